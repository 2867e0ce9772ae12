export { agentTabEscrowAbi, agentTabReputationAbi, mockSmartWalletAbi, mockUsdcAbi, usdcAbi } from "./generated/abis.ts";
export { decodeClaims, decodeClaimsLog, encodeClaims } from "./claims.ts";
export type { Claim, SettledClaim } from "./claims.ts";
export { deploymentPath, parseDeployment, readDeployment, serializeDeployment } from "./deployments.ts";
export type { Deployment } from "./deployments.ts";
export {
  AgentTabError,
  ClaimEncodingError,
  ClaimsDecodingError,
  DeploymentNotFoundError,
  InvalidDeploymentError,
} from "./errors.ts";
export { base, baseSepolia, caip2ToChainId, chainIdToCaip2, getNetwork, hardhatLocal, knownNetworks } from "./networks.ts";
export type { AgentTabNetwork } from "./networks.ts";
export {
  escrowEip712,
  feedbackTypedData,
  feedbackTypes,
  permitTypes,
  receiptDomain,
  receiptEip712,
  receiptTypedData,
  receiptTypes,
  receiveWithAuthorizationTypes,
  signFeedback,
  signReceipt,
  signVoucher,
  transferWithAuthorizationTypes,
  usdcDomain,
  verifyReceipt,
  voucherDomain,
  voucherTypedData,
  voucherTypes,
} from "./typedData.ts";
export type {
  Feedback,
  FeedbackSigner,
  FeedbackTypedData,
  Receipt,
  ReceiptSigner,
  ReceiptTypedData,
  SignFeedbackParameters,
  SignReceiptParameters,
  SignVoucherParameters,
  TypedDataSigner,
  VerifyReceiptParameters,
  VoucherSigner,
  VoucherTypedData,
} from "./typedData.ts";
export { serviceIdToBytes32 } from "./serviceIds.ts";
export {
  apiDomain,
  apiEip712,
  serviceDelistingTypedData,
  serviceDelistingTypes,
  serviceRegistrationTypedData,
  serviceRegistrationTypes,
  signServiceDelisting,
  signServiceRegistration,
} from "./apiTypedData.ts";
export type {
  ServiceDelisting,
  ServiceDelistingSigner,
  ServiceDelistingTypedData,
  ServicePricing,
  ServiceRegistration,
  ServiceRegistrationSigner,
  ServiceRegistrationTypedData,
  SignServiceDelistingParameters,
  SignServiceRegistrationParameters,
} from "./apiTypedData.ts";
export {
  MAX_SIGN_IN_TTL_SECONDS,
  SIGN_IN_AUTHORIZATION_SCHEME,
  SignInLifetimeError,
  authorizationHeader,
  encodeSignInToken,
  parseSignInToken,
  signIn,
  signInTypedData,
  signInTypes,
} from "./apiTypedData.ts";
export type { SignIn, SignInParameters, SignInSigner, SignInTypedData, SignedSignIn } from "./apiTypedData.ts";
export { AgentTabClient } from "./client/AgentTabClient.ts";
export {
  ApiRequestError,
  InsufficientBalanceError,
  PriceExceedsMaxError,
  RateLimitedError,
  ServiceNotFoundError,
  SpendLimitError,
  UnexpectedResponseError,
  UpstreamFailedError,
  apiErrorFromResponse,
} from "./client/errors.ts";
export type { ApiErrorBody } from "./client/errors.ts";
export { VOUCHER_SCHEME, receiptFromPaymentResponse, voucherPaymentHeader, voucherRequirement } from "./client/payment.ts";
export type { SignedReceipt } from "./client/payment.ts";
export type {
  AgentTabClientOptions,
  AgentTabClientSigner,
  Balance,
  CallParameters,
  CallResult,
  DiscoverParameters,
  Service,
  ServicePage,
  SpendingReport,
  SpendingReportParameters,
  SpendingTotals,
  Transaction,
  TransactionPage,
  TransactionsParameters,
} from "./client/types.ts";
