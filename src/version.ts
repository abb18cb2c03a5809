/** The broker's release, as `credbroker --version` and GET /v1/admin/status report it. */
export const BROKER_VERSION = "0.1.0";
