/**
 * The client authentication methods the token endpoint accepts: an exhaustive map, so a new
 * method (e.g. OIDC federation) does not compile until it is registered here.
 */
import { privateKeyJwtMethod } from "./client-assertion.js";
import type { ClientAuthMethod, ClientAuthMethodName } from "./client-method.js";
import { clientSecretMethod } from "./client-secret.js";

export const clientAuthMethods: { [N in ClientAuthMethodName]: ClientAuthMethod<N> } = {
  client_secret: clientSecretMethod,
  private_key_jwt: privateKeyJwtMethod,
};
