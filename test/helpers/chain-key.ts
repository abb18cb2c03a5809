/** A fixed audit chain key for store-level tests, and the chain format a fresh keyed database has. */
import { ChainKey } from "../../src/audit/chain.js";
import type { ChainFormat } from "../../src/audit/chain-format.js";

export const TEST_CHAIN_KEY = ChainKey.of(Buffer.alloc(32, 7));

/** Every record keyed, nothing archived. */
export const KEYED_FROM_START: ChainFormat = { key: TEST_CHAIN_KEY, keyedFromSeq: 1, anchor: undefined };
