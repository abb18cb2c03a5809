/** The parsed `mounts` entries of the configuration, per backend kind. */
import type { BrokerConfig } from "../config.js";
import type { BackendKind } from "./backend.js";

export type MountConfig = BrokerConfig["mounts"][number];
export type MountConfigOf<K extends BackendKind> = Extract<MountConfig, { backend: K }>;
export type VaultMountConfig = MountConfigOf<"vault">;
export type AwsMountConfig = MountConfigOf<"aws">;

// The config schema and BackendKind must name the same kinds: this fails to compile otherwise.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const kindsAgree: Same<MountConfig["backend"], BackendKind> = true;
void kindsAgree;
