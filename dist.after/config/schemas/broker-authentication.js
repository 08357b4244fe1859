/**
 * Schema of the `BrokerAuthentication` kind. Validated loosely here (structure and types only); the
 * resource is kept raw in `LoadedConfig.others` for the security room, which interprets the methods.
 * Both shapes are accepted in one method object:
 * - 2023: a method is an object with one key: `sat` | `usernamePassword` | `x509` | `custom`.
 * - 2024+: `method: ServiceAccountToken|X509|Custom` plus `<method>Settings` (2024 v1beta1 spelled
 *   them `serviceAccountToken` / `x509Credentials`).
 */
import { caseInsensitiveEnum, obj, opaqueObject, resourceSchema, str, stringList, stringMap } from './common.js';
const httpsEndpoint = str('Webhook URL; must be https.', { pattern: '^https://' });
const customSettings = (description) => obj(description, {
    endpoint: httpsEndpoint,
    caCert: str('2023: ConfigMap with the CA of the webhook server.'),
    caCertConfigMap: str('ConfigMap with the CA of the webhook server.'),
    auth: obj('Client certificate the broker presents to the webhook (mTLS).', {
        x509: obj('Client certificate secret.', {
            secretName: str('2023: secret name.'),
            secretRef: str('Secret name.'),
            namespace: str('Secret namespace.'),
        }),
    }),
    headers: stringMap('Headers added to every webhook request.'),
    edgemq: obj('edgemq extensions.', {
        timeoutSeconds: { type: 'number', description: 'Request timeout; a webhook that does not answer in time is not relevant (default 5).', minimum: 0.05, maximum: 120 },
    }),
}, ['endpoint']);
const x509Settings = (description) => obj(description, {
    trustedClientCaCert: str('ConfigMap of trusted client CA certificates (default client-ca).'),
    attributes: obj('2023: attribute file.', { secretName: str('Secret with key x509Attributes.toml.') }),
    authorizationAttributes: opaqueObject('Attributes by certificate subject: {name: {subject, attributes}}.'),
    additionalValidation: caseInsensitiveEnum('Extra certificate check.', ['None', 'AzureDeviceRegistry']),
});
const satSettings = (description) => obj(description, {
    audiences: stringList('Accepted token audiences.', { minItems: 1 }),
    edgemq: obj('edgemq extensions: how tokens are verified (default in a pod: TokenReview against the API server).', {
        jwksFile: str('JWKS file (JSON) with the cluster\'s service-account signing keys; relative to the config file.'),
        jwksUri: str('URL of the cluster\'s JWKS (e.g. https://<api-server>/openid/v1/jwks).'),
        issuer: str('Required token issuer (iss).'),
        tokenReviewUrl: str('TokenReview endpoint (https://<api-server>/apis/authentication.k8s.io/v1/tokenreviews).'),
        tokenFile: str('Bearer token file for TokenReview (default: the pod\'s service account token).'),
        caFile: str('CA file of the API server for TokenReview/JWKS (default: the pod\'s service account CA).'),
    }),
});
const passwordSettings = (description) => obj(description, { secretName: str('Secret with key passwords.toml.') }, ['secretName']);
const anonymousSettings = obj('edgemq: clients that present no credentials at all get these attributes (put it last).', {
    attributes: stringMap('Attributes of anonymous principals, for authorization rules.'),
});
const methodSchema = obj('One authentication method; methods are tried in order.', {
    // 2023
    sat: satSettings('2023: Kubernetes service account token (username $sat, password = token).'),
    usernamePassword: passwordSettings('2023: username/password file.'),
    anonymous: anonymousSettings,
    x509: x509Settings('2023: TLS client certificates.'),
    custom: customSettings('2023: HTTPS webhook.'),
    // 2024+
    method: caseInsensitiveEnum('Later shape: which method (UsernamePassword and Anonymous are edgemq extensions).', [
        'ServiceAccountToken',
        'X509',
        'Custom',
        'UsernamePassword',
        'Anonymous',
    ]),
    usernamePasswordSettings: passwordSettings('edgemq: username/password file (the 2023 method in the later shape).'),
    anonymousSettings,
    serviceAccountTokenSettings: satSettings('Kubernetes service account token (enhanced auth method K8S-SAT).'),
    serviceAccountToken: satSettings('2024 v1beta1 spelling of serviceAccountTokenSettings.'),
    x509Settings: x509Settings('TLS client certificates.'),
    x509Credentials: x509Settings('2024 v1beta1 spelling of x509Settings.'),
    customSettings: customSettings('HTTPS webhook.'),
});
export const brokerAuthenticationSpecSchema = obj('How clients prove who they are.', {
    listenerRef: stringList('2023: listeners this authentication applies to.'),
    authenticationMethods: { type: 'array', description: 'Methods in the order they are tried.', minItems: 1, items: methodSchema },
}, ['authenticationMethods']);
export const brokerAuthenticationSchema = resourceSchema('BrokerAuthentication', 'Authentication methods of one or more listeners.', brokerAuthenticationSpecSchema);
//# sourceMappingURL=broker-authentication.js.map