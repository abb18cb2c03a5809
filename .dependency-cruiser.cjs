/**
 * The layering of src/, checked in CI (`npm run check:layers`). docs/design/architecture.md draws it.
 *
 *   cli                      entry points (the only importer of the composition root)
 *   main.ts, wiring/         composition root: builds everything, chooses implementations
 *   http/                    the edge: validate, authenticate, call one use case, shape the answer
 *   secrets/ servers/ operators/ leases/ keys/ rotation/ auth/ jobs/   use cases (jobs/: run on a schedule)
 *   policy/ backends/ audit/ store/ crypto/ events/   what use cases build on
 *   errors.ts domain.ts logger.ts metrics.ts   shared vocabulary
 *   sdk/                     the client side: runs beside an MCP server, imports nothing of the broker
 *
 * Type-only imports count (tsPreCompilationDeps): a layer that names another's types depends on it.
 */
const ROOT = "^src/(main\\.ts|wiring/)";
const EDGE = "^src/http/";
const USE_CASES = "^src/(secrets|servers|operators|leases|keys|rotation|jobs)/";
const FOUNDATION = "^src/(policy|backends|audit|store|crypto|events)/";
const BASE = "^src/(errors|domain|logger|metrics)\\.ts$";

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: "no-circular",
      severity: "error",
      comment: "A cycle makes two modules one; split the shared part out.",
      from: { path: "^src/" },
      to: { circular: true },
    },
    {
      name: "sdk-is-standalone",
      severity: "error",
      comment: "The SDK and `credbroker run` ship to MCP servers: nothing of the broker may come along.",
      from: { path: "^src/sdk/" },
      to: { path: "^src/", pathNot: "^src/sdk/" },
    },
    {
      name: "broker-does-not-use-the-client",
      severity: "error",
      comment: "Only the CLI starts the client side (`credbroker run`).",
      from: { path: "^src/", pathNot: "^src/(sdk|cli)/" },
      to: { path: "^src/sdk/" },
    },
    {
      name: "cli-is-the-top",
      severity: "error",
      from: { path: "^src/", pathNot: "^src/cli/" },
      to: { path: "^src/cli/" },
    },
    {
      name: "composition-root-is-imported-by-the-cli-only",
      severity: "error",
      from: { path: "^src/", pathNot: `^src/cli/|${ROOT}` },
      to: { path: ROOT },
    },
    {
      name: "edge-is-imported-by-the-root-only",
      severity: "error",
      comment: "Use cases never call back up into HTTP code.",
      from: { path: "^src/", pathNot: `${EDGE}|${ROOT}|^src/cli/` },
      to: { path: EDGE },
    },
    {
      name: "edge-does-not-touch-the-store",
      severity: "error",
      comment: "Routes and middleware ask use cases, a server directory or probes, never the store.",
      from: { path: EDGE },
      to: { path: "^src/store/" },
    },
    {
      name: "foundation-does-not-use-use-cases",
      severity: "error",
      from: { path: FOUNDATION },
      to: { path: `${USE_CASES}|^src/auth/` },
    },
    {
      name: "policy-is-pure",
      severity: "error",
      comment: "Policy decisions depend on the policy set and the request only (load.ts and watch.ts read files).",
      from: { path: "^src/policy/" },
      to: { path: "^src/", pathNot: "^src/(policy/|errors\\.ts$|domain\\.ts$)" },
    },
    {
      name: "policy-decisions-do-no-io",
      severity: "error",
      from: { path: "^src/policy/(evaluate|compile|explain|glob|cidr|decision-cache|roles|duration|rotation-options|rotation-schedule|rotation-claims|schema-parts)\\.ts$" },
      to: { dependencyTypes: ["core"], path: "^(node:)?(fs|fs/promises|net|http|https|child_process|dgram)$" },
    },
    {
      name: "store-is-the-bottom",
      severity: "error",
      comment: "The store knows rows, the shared vocabulary and the audit hash chain, nothing else.",
      from: { path: "^src/store/" },
      to: { path: "^src/", pathNot: "^src/(store/|errors\\.ts$|domain\\.ts$|audit/chain\\.ts$|audit/record\\.ts$)" },
    },
    {
      name: "backends-know-no-broker-state",
      severity: "error",
      comment: "The local backend is the broker's own encrypted store, so it alone reads the store.",
      from: { path: "^src/backends/", pathNot: "^src/backends/local\\.ts$" },
      to: { path: "^src/(store|audit|auth|secrets|servers|operators|leases|events)/" },
    },
    {
      name: "base-is-the-bottom",
      severity: "error",
      from: { path: BASE },
      to: { path: "^src/", pathNot: BASE },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    // Core modules stay in the graph so that policy-decisions-do-no-io can see them.
    includeOnly: ["^src/", "^(node:)?(fs|fs/promises|net|http|https|child_process|dgram)$"],
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: { exportsFields: ["exports"], conditionNames: ["import", "require", "node", "default"] },
  },
};
