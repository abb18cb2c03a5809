/**
 * The master key ring: 256-bit keys with ids, one of them active. Data keys are wrapped by the
 * active key; older keys stay in the ring so versions wrapped before `keys rotate` still open.
 *
 * Sources: a key file (JSON, mode 0600, written atomically) or CREDBROKER_MASTER_KEY (one base64
 * key; a ring held in the environment cannot be rotated in place).
 */
import { createHash, randomBytes } from "node:crypto";
import { chmodSync, existsSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { BrokerError } from "../errors.js";

export const MASTER_KEY_BYTES = 32;

interface KeyFileFormat {
  format: "credbroker-master-key/v1";
  active: string;
  keys: Record<string, string>;
}

export class MasterKeyRing {
  private constructor(
    private readonly keys: Map<string, Buffer>,
    private activeId: string,
    /** Where the ring persists; undefined when it came from the environment. */
    readonly file: string | undefined,
  ) {}

  get activeKeyId(): string {
    return this.activeId;
  }

  get activeKey(): Buffer {
    return this.keys.get(this.activeId)!;
  }

  keyIds(): string[] {
    return [...this.keys.keys()];
  }

  /** The key with this id; throws when the ring does not hold it (the row cannot be opened). */
  key(id: string): Buffer {
    const key = this.keys.get(id);
    if (!key) throw new BrokerError("internal", "encryption key unavailable", { detail: `master key ${id} is not in the key ring` });
    return key;
  }

  /** Adds a fresh key, makes it active and persists the ring before returning. */
  rotate(): string {
    if (!this.file) {
      throw new BrokerError("conflict", "the master key comes from CREDBROKER_MASTER_KEY; use master_key_file to rotate it in place");
    }
    const id = newKeyId();
    this.keys.set(id, randomBytes(MASTER_KEY_BYTES));
    this.activeId = id;
    writeKeyFile(this.file, this.keys, id);
    return id;
  }

  /** Generates a ring with one key and writes it to `file` (0600); refuses to overwrite. */
  static create(file: string): MasterKeyRing {
    if (existsSync(file)) throw new BrokerError("conflict", `master key file ${file} already exists`);
    const id = newKeyId();
    const keys = new Map([[id, randomBytes(MASTER_KEY_BYTES)]]);
    writeKeyFile(file, keys, id);
    return new MasterKeyRing(keys, id, file);
  }

  static fromFile(file: string): MasterKeyRing {
    const mode = statSync(file).mode & 0o777;
    if ((mode & 0o077) !== 0) {
      throw new BrokerError("invalid_request", `master key file ${file} is readable by other users (mode ${mode.toString(8)}); chmod 600 it`);
    }
    let parsed: KeyFileFormat;
    try {
      parsed = JSON.parse(readFileSync(file, "utf8")) as KeyFileFormat;
    } catch (error) {
      throw new BrokerError("invalid_request", `master key file ${file} is not valid JSON`, { cause: error });
    }
    if (parsed.format !== "credbroker-master-key/v1" || typeof parsed.keys !== "object" || !parsed.keys[parsed.active]) {
      throw new BrokerError("invalid_request", `master key file ${file} is not a credbroker key ring`);
    }
    const keys = new Map<string, Buffer>();
    for (const [id, encoded] of Object.entries(parsed.keys)) keys.set(id, decodeKey(encoded, `key ${id} of ${file}`));
    return new MasterKeyRing(keys, parsed.active, file);
  }

  /** One key from base64 text (CREDBROKER_MASTER_KEY); its id is derived from the key itself. */
  static fromEnvironment(encoded: string): MasterKeyRing {
    const key = decodeKey(encoded, "CREDBROKER_MASTER_KEY");
    const id = `env-${createHash("sha256").update(key).digest("hex").slice(0, 12)}`;
    return new MasterKeyRing(new Map([[id, key]]), id, undefined);
  }
}

function decodeKey(encoded: string, where: string): Buffer {
  const key = Buffer.from(encoded, "base64");
  if (key.length !== MASTER_KEY_BYTES) {
    throw new BrokerError("invalid_request", `${where} must be ${MASTER_KEY_BYTES} bytes of base64`);
  }
  return key;
}

function newKeyId(): string {
  const stamp = new Date().toISOString().replace(/[-:]/g, "").slice(0, 15);
  return `mk-${stamp}-${randomBytes(3).toString("hex")}`;
}

function writeKeyFile(file: string, keys: Map<string, Buffer>, active: string): void {
  const content: KeyFileFormat = {
    format: "credbroker-master-key/v1",
    active,
    keys: Object.fromEntries([...keys].map(([id, key]) => [id, key.toString("base64")])),
  };
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(content, null, 2)}\n`, { mode: 0o600, flag: "w" });
  chmodSync(temporary, 0o600);
  renameSync(temporary, file);
}
