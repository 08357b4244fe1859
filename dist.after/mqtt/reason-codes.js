/**
 * MQTT 5.0 reason codes (spec 2.4) and the one place where they are mapped down to MQTT 3.1.1.
 * Handlers raise an MqttError carrying one of these; the channel maps it per packet type and version.
 */
export const RC = {
    Success: 0x00,
    GrantedQoS1: 0x01,
    GrantedQoS2: 0x02,
    DisconnectWithWill: 0x04,
    NoMatchingSubscribers: 0x10,
    NoSubscriptionExisted: 0x11,
    ContinueAuthentication: 0x18,
    ReAuthenticate: 0x19,
    UnspecifiedError: 0x80,
    MalformedPacket: 0x81,
    ProtocolError: 0x82,
    ImplementationSpecificError: 0x83,
    UnsupportedProtocolVersion: 0x84,
    ClientIdentifierNotValid: 0x85,
    BadUserNameOrPassword: 0x86,
    NotAuthorized: 0x87,
    ServerUnavailable: 0x88,
    ServerBusy: 0x89,
    Banned: 0x8a,
    ServerShuttingDown: 0x8b,
    BadAuthenticationMethod: 0x8c,
    KeepAliveTimeout: 0x8d,
    SessionTakenOver: 0x8e,
    TopicFilterInvalid: 0x8f,
    TopicNameInvalid: 0x90,
    PacketIdentifierInUse: 0x91,
    PacketIdentifierNotFound: 0x92,
    ReceiveMaximumExceeded: 0x93,
    TopicAliasInvalid: 0x94,
    PacketTooLarge: 0x95,
    MessageRateTooHigh: 0x96,
    QuotaExceeded: 0x97,
    AdministrativeAction: 0x98,
    PayloadFormatInvalid: 0x99,
    RetainNotSupported: 0x9a,
    QoSNotSupported: 0x9b,
    UseAnotherServer: 0x9c,
    ServerMoved: 0x9d,
    SharedSubscriptionsNotSupported: 0x9e,
    ConnectionRateExceeded: 0x9f,
    MaximumConnectTime: 0xa0,
    SubscriptionIdentifiersNotSupported: 0xa1,
    WildcardSubscriptionsNotSupported: 0xa2,
};
/** MQTT 3.1.1 CONNACK return codes (spec 3.1.1, 3.2.2.3). */
export const V3Connack = {
    Accepted: 0,
    UnacceptableProtocolVersion: 1,
    IdentifierRejected: 2,
    ServerUnavailable: 3,
    BadUsernameOrPassword: 4,
    NotAuthorized: 5,
};
/** Down-map a v5 CONNACK reason code for a 3.1.1 client (as EMQX `emqx_reason_codes:compat/2`). */
export function toV3Connack(rc) {
    switch (rc) {
        case RC.Success:
            return V3Connack.Accepted;
        case RC.UnsupportedProtocolVersion:
            return V3Connack.UnacceptableProtocolVersion;
        case RC.ClientIdentifierNotValid:
            return V3Connack.IdentifierRejected;
        case RC.BadUserNameOrPassword:
        case RC.BadAuthenticationMethod:
            return V3Connack.BadUsernameOrPassword;
        case RC.NotAuthorized:
        case RC.Banned:
            return V3Connack.NotAuthorized;
        default:
            return V3Connack.ServerUnavailable;
    }
}
/** 3.1.1 SUBACK knows only granted QoS 0..2 and 0x80 failure. */
export function toV3Suback(rc) {
    return rc <= RC.GrantedQoS2 ? rc : 0x80;
}
const names = new Map(Object.entries(RC).map(([k, v]) => [v, k]));
export function reasonName(rc) {
    return names.get(rc) ?? `0x${rc.toString(16)}`;
}
//# sourceMappingURL=reason-codes.js.map