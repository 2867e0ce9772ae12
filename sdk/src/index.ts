export { agentTabEscrowAbi, agentTabReputationAbi, fiatTokenAbi, fiatTokenProxyAbi, mockSmartWalletAbi, usdcAbi } from "./generated/abis.ts";
export { decodeClaims, decodeClaimsLog, encodeClaims, settlementProviders } from "./claims.ts";
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
  verifyVoucher,
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
  VerifyReceiptParameters,
  VerifyVoucherParameters,
  Voucher,
  VoucherSigner,
  VoucherTypedData,
  VoucherTypedDataParameters,
} from "./typedData.ts";
export type { TypedDataSigner } from "./eip712/typedMessage.ts";
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
  AccountBlacklistedError,
  ApiRequestError,
  ChargedTotalMismatchError,
  InsufficientBalanceError,
  PriceExceedsMaxError,
  RateLimitedError,
  ReceiptRejectedError,
  ServiceNotFoundError,
  SpendLimitError,
  UnexpectedResponseError,
  UpstreamFailedError,
  VoucherRequirementError,
  apiErrorFromResponse,
} from "./client/errors.ts";
export type { ApiErrorBody, ReceiptRejection } from "./client/errors.ts";
export { VOUCHER_SCHEME, receiptFromPaymentResponse, voucherOffer, voucherPaymentHeader, voucherRequirement } from "./client/payment.ts";
export type { SignedReceipt, VoucherOffer } from "./client/payment.ts";
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
export { signTeamChange, teamChangeTypedData, teamChangeTypes } from "./teamTypedData.ts";
export type { TeamChangeKind, TeamChangeMessages, TeamChangeParameters, TeamChangeTypedData, TeamOwnerSigner } from "./teamTypedData.ts";
export { Team } from "./team/Team.ts";
export type {
  AddMemberParameters,
  AddQualityGateParameters,
  SetBudgetParameters,
  TeamOptions,
  TeamOwner,
  TeamSpendTotals,
  TeamSpendingParameters,
  TeamSpendingReport,
} from "./team/Team.ts";
export { AgentTabVoucherScheme } from "./x402/voucherScheme.ts";
export type { AgentTabVoucherSchemeOptions } from "./x402/voucherScheme.ts";
export { registerAgentTabScheme } from "./x402/register.ts";
export type { RegisterAgentTabSchemeParameters } from "./x402/register.ts";
export { getApiNetwork } from "./client/network.ts";
export type { ApiNetwork } from "./client/network.ts";
export { defaultRetry, isRefusedBeforeWork, refusedBeforeWork, retryDelayMs, sendWithRetry } from "./client/retry.ts";
export type { RetryOptions } from "./client/retry.ts";
export { createChainAccess, getChainTime, requirePublicClient, sendContractWrite, transactionResult } from "./client/chain.ts";
export type { ChainAccess, ContractWrite, TransactionResult } from "./client/chain.ts";
export {
  ChainAccessError,
  ContractRevertedError,
  DelegateNotActiveError,
  EscrowBalanceTooLowError,
  IndexerTimeoutError,
  InsufficientEarningsError,
  NoPendingWithdrawalError,
  NothingToWithdrawError,
  WithdrawalLockedError,
  contractErrorFrom,
} from "./client/chainErrors.ts";
export { deposit } from "./client/deposit.ts";
export type { DepositContext, DepositMethod, DepositParameters, DepositResult, DepositStatus } from "./client/deposit.ts";
export { authorizeDelegate, cancelWithdrawal, finalizeWithdrawal, requestWithdrawal, revokeDelegate } from "./client/escrowActions.ts";
export type {
  AuthorizeDelegateParameters,
  DelegateResult,
  EscrowTarget,
  WithdrawalFinalizeResult,
  WithdrawalRequestResult,
} from "./client/escrowActions.ts";
export type { AgentTabConnectOptions } from "./client/types.ts";
export { discoverBazaar, listBazaarResources, searchBazaarResources } from "./client/bazaar.ts";
export type {
  BazaarEndpoint,
  BazaarFilters,
  BazaarPaymentRequirements,
  BazaarResource,
  DiscoverBazaarParameters,
  DiscoverBazaarReturnType,
  ListBazaarResourcesParameters,
  ListBazaarResourcesReturnType,
  SearchBazaarResourcesParameters,
  SearchBazaarResourcesReturnType,
} from "./client/bazaar.ts";
export { ProviderClient } from "./provider/ProviderClient.ts";
export type {
  DelistedService,
  ProviderClientSigner,
  ProviderConnectOptions,
  ProviderEarnings,
  ProviderService,
  ServiceDiscoveryFields,
  ProviderWithdrawParameters,
  ProviderWithdrawResult,
  RegisteredService,
} from "./provider/types.ts";
// The MCP server and the CLI program are subpaths (`@agenttab/sdk/mcp`, `@agenttab/sdk/cli`): the MCP
// SDK would add about a second to every import of this index.
export { ExitCode, failureOf } from "./cli/exitCodes.ts";
export type { ExitCodeValue, Failure } from "./cli/exitCodes.ts";
export { decryptKeystore } from "./cli/keystore.ts";
export type { KeystoreV3 } from "./cli/keystore.ts";
