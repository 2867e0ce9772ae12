// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title AgentTab escrow
/// @notice Agents deposit USDC once, then pay per call with off-chain EIP-712 vouchers. A voucher
/// `Voucher(account, signer, provider, maxCumulative)` says "`provider` may be paid up to a
/// cumulative total of `maxCumulative` from `account`, on what `signer` spent": `signer` is the
/// account itself or one of its delegates, and each (account, signer, provider) is its own spend
/// track. A settler submits batches that claim the vouchers; the escrow credits each claim's amount,
/// less the fee at the rate in force, to the provider its voucher names. Providers withdraw their
/// credits; agents withdraw in two steps.
///
/// No role chooses payees: the settler only picks which signed vouchers to claim and how far, and
/// reports each provider's call counts. Accounting: the escrow's USDC equals the sum of agent
/// balances, provider balances and accrued fees (`totalAccounted`); no role can move an agent's
/// deposit except to the provider a voucher names (and the fee), or back to the agent.
interface IAgentTabEscrow {
    // ---------------------------------------------------------------------------------------------
    // Types
    // ---------------------------------------------------------------------------------------------

    /// @notice One agent's account. `claimed` is the total ever claimed from it, over every signer
    /// (its own vouchers and its delegates') and every provider; {claimedOf} gives one track's part.
    struct Account {
        uint128 balance;
        uint128 claimed;
    }

    /// @notice A key allowed to sign vouchers against an account, up to a cumulative `cap` over all
    /// providers; `claimed` is what was claimed on its vouchers so far, summed over its tracks.
    /// @dev `expiresAt == 0` means no expiry. Revoking sets `active` to false at once.
    struct Delegation {
        uint96 cap;
        uint96 claimed;
        uint40 expiresAt;
        bool active;
    }

    /// @notice What an owner took back from a delegate, kept so that what the delegate spent before
    /// stays claimable for `WITHDRAWAL_DELAY` afterwards: the cap before it was last lowered, when
    /// it was lowered, and when the delegate was last revoked (0 = never).
    struct DelegateGrace {
        uint96 previousCap;
        uint40 capLoweredAt;
        uint40 revokedAt;
    }

    /// @notice What a claim on a delegate's vouchers is checked against at a given time: the
    /// cumulative `cap` it may reach, and `until`, the time from which no claim is accepted (0 = none).
    struct DelegateClaimLimit {
        uint256 cap;
        uint256 until;
        bool active;
    }

    /// @notice A requested agent withdrawal; it can be finalized from `unlockAt` on.
    struct PendingWithdrawal {
        uint128 amount;
        uint64 unlockAt;
    }

    /// @notice A provider in a settlement batch: the claims whose `providerIndex` points here pay
    /// it (their vouchers must name it), and the calls it served and failed since the last
    /// settlement are reported so that reputation can be recomputed from events alone. The report
    /// carries no amount: the escrow computes the credit from the claims.
    struct ProviderReport {
        address provider;
        uint32 callsServed;
        uint32 callsFailed;
    }

    /// @notice A USDC EIP-3009 `TransferWithAuthorization` to this escrow (the x402 `exact` scheme),
    /// and the provider it pays.
    struct ExactPayment {
        address from;
        uint256 value;
        uint256 validAfter;
        uint256 validBefore;
        bytes32 nonce;
        address provider;
        uint256 fee;
    }

    // ---------------------------------------------------------------------------------------------
    // Events (past tense, carrying everything an indexer needs)
    // ---------------------------------------------------------------------------------------------

    /// @notice `payer` added `amount` to `account`, whose balance is now `balance`.
    event Deposited(address indexed account, address indexed payer, uint256 amount, uint256 balance);

    /// @notice `account` allowed `delegate` to sign vouchers up to a cumulative `cap`.
    event DelegateAuthorized(address indexed account, address indexed delegate, uint256 cap, uint256 expiresAt);

    /// @notice `account` revoked `delegate`; its unclaimed vouchers can no longer be claimed.
    event DelegateRevoked(address indexed account, address indexed delegate);

    /// @notice `account` asked to withdraw `amount`, which it can finalize from `unlockAt` on.
    event WithdrawalRequested(address indexed account, uint256 amount, uint256 unlockAt);

    /// @notice `account` cancelled its pending withdrawal.
    event WithdrawalCancelled(address indexed account);

    /// @notice `account` withdrew `amount` to itself; its balance is now `balance`.
    event WithdrawalFinalized(address indexed account, uint256 amount, uint256 balance);

    /// @notice A settlement batch was applied: `debited` from accounts in total, of which `fee` went
    /// to the platform and the rest to providers (`debited == Σ ProviderCredited.amount + fee`).
    /// `claims` lists each claim packed as
    /// `flags(1) account(20) [signer(20) when flags & 1] provider(20) amount(16) cumulative(16)`,
    /// where `cumulative` is the (account, signer, provider) track's new claimed total (see ClaimCodec).
    event BatchSettled(bytes32 indexed batchId, uint256 debited, uint256 fee, uint256 claimCount, bytes claims);

    /// @notice `provider` was credited `amount` in `batchId`, net of the fee (in a batch: its claims'
    /// total less the fee at the rate in force, rounded down; zero when only call counts are reported).
    /// `balance` is its withdrawable balance after the credit.
    event ProviderCredited(
        bytes32 indexed batchId,
        address indexed provider,
        uint256 amount,
        uint256 callsServed,
        uint256 callsFailed,
        uint256 balance
    );

    /// @notice A USDC authorization from `from` paid `provider` `value - fee` and the platform `fee`.
    event ExactPaymentSettled(
        address indexed from,
        address indexed provider,
        bytes32 indexed nonce,
        uint256 value,
        uint256 fee,
        uint256 providerBalance
    );

    /// @notice `provider` withdrew `amount` of its credits to `to`.
    event EarningsWithdrawn(address indexed provider, address indexed to, uint256 amount, uint256 balance);

    /// @notice The admin withdrew `amount` of accrued fees to `to`.
    event FeesWithdrawn(address indexed to, uint256 amount);

    /// @notice The fee rate changed (basis points of each provider's claims in a batch).
    event FeeRateUpdated(uint256 previousBps, uint256 newBps);

    /// @notice USDC sent to the escrow outside any deposit (e.g. a front-run authorization) was recovered.
    event SurplusRecovered(address indexed to, uint256 amount);

    // ---------------------------------------------------------------------------------------------
    // Errors
    // ---------------------------------------------------------------------------------------------

    error ZeroAmount();
    error ZeroAddress();
    error AmountTooLarge(uint256 amount);
    error InsufficientBalance(address account, uint256 balance, uint256 needed);
    error FeeRateAboveCap(uint256 bps, uint256 capBps);
    error FeeAboveRate(uint256 fee, uint256 maxFee);
    error FeeAboveValue(uint256 fee, uint256 value);
    error EmptyBatch();
    /// @notice Provider reports must be strictly ascending by address; the one at `index` is not.
    error ProvidersNotAscending(uint256 index);
    /// @notice The packed claims are cut short, use a reserved flag, or name a provider index out of
    /// range, at byte `offset`.
    error MalformedClaim(uint256 offset);
    /// @notice The signature is not `signer`'s over the voucher for this account and the provider
    /// the claim's `providerIndex` points at.
    error InvalidVoucherSignature(address account, address signer);
    error ClaimAboveVoucher(address account, address signer, uint256 maxCumulative, uint256 cumulative);
    /// @notice `cumulative` is below what the (account, signer, provider) track already claimed.
    error ClaimBelowClaimed(address account, address signer, uint256 claimed, uint256 cumulative);
    /// @notice The claim would take `delegate`'s total over all its providers to `claimed`, above `cap`.
    error ClaimAboveDelegateCap(address account, address delegate, uint256 cap, uint256 claimed);
    error DelegateNotActive(address account, address delegate);
    error DelegateExpired(address account, address delegate, uint256 expiresAt);
    error ExpiryInPast(uint256 expiresAt);
    error InvalidDelegate(address delegate);
    error PermitFailed(address owner);
    error NoPendingWithdrawal(address account);
    error WithdrawalLocked(address account, uint256 unlockAt);
    error InsufficientEarnings(address provider, uint256 balance, uint256 amount);
    error InsufficientFees(uint256 accrued, uint256 amount);

    // ---------------------------------------------------------------------------------------------
    // Deposits
    // ---------------------------------------------------------------------------------------------

    /// @notice Deposits `amount` from the caller into the caller's account (needs an allowance).
    function deposit(uint256 amount) external;

    /// @notice Deposits `amount` from the caller into `account` (e.g. a team owner funding a member).
    function depositFor(address account, uint256 amount) external;

    /// @notice Gasless deposit with an EIP-2612 permit signed by `owner`; anyone may relay it and the
    /// funds always land in `owner`'s account. The permit must succeed when someone else relays it
    /// (`PermitFailed` otherwise, e.g. after a front-run): only `owner`'s own call may fall back to
    /// an allowance already in place.
    function depositWithPermit(address owner, uint256 amount, uint256 deadline, uint8 v, bytes32 r, bytes32 s)
        external;

    /// @notice Gasless deposit with a USDC EIP-3009 `ReceiveWithAuthorization` (to = this escrow)
    /// signed by `from`; anyone may relay it and the funds land in `from`'s account.
    function depositWithAuthorization(
        address from,
        uint256 value,
        uint256 validAfter,
        uint256 validBefore,
        bytes32 nonce,
        bytes calldata signature
    ) external;

    // ---------------------------------------------------------------------------------------------
    // Delegates
    // ---------------------------------------------------------------------------------------------

    /// @notice Lets `delegate` sign vouchers against the caller's account up to a cumulative `cap`
    /// over all providers (including what was already claimed on its vouchers), until `expiresAt` (0 = no expiry; else
    /// in the future). Calling again updates the cap and expiry and re-activates a revoked delegate.
    /// Nothing an owner does un-pays what a delegate already spent: a lower cap binds new claims only
    /// after `WITHDRAWAL_DELAY` (until then the higher one still holds), and claims stay possible
    /// until `WITHDRAWAL_DELAY` after the expiry.
    function authorizeDelegate(address delegate, uint96 cap, uint40 expiresAt) external;

    /// @notice Revokes `delegate`: the proxy stops accepting its vouchers at once, and the escrow
    /// accepts claims on the vouchers it signed before for `WITHDRAWAL_DELAY` more (the settlement's
    /// watchtower claims them well before), so what it spent reaches the providers who served it.
    function revokeDelegate(address delegate) external;

    // ---------------------------------------------------------------------------------------------
    // Settlement
    // ---------------------------------------------------------------------------------------------

    /// @notice Claims vouchers and credits each provider what its vouchers pay, less the fee, in one
    /// transaction. Settler only. Each claim debits `cumulative - claimedOf(account, signer, provider)`
    /// from the account, where `provider = providers[providerIndex].provider` and the signature is
    /// `signer`'s over `Voucher(account, signer, provider, maxCumulative)`. A delegate's total over
    /// all its providers stays within its cap. Then, per provider, `fee = gross * feeBps / 10_000`
    /// (rounded down) goes to the platform and `gross - fee` to the provider ({ProviderCredited},
    /// also for a provider with no claims, to report its call counts).
    /// @param batchId Unique id of the batch; a batch id seen before makes the call a no-op.
    /// @param claims The claims packed as ClaimCodec describes:
    /// `flags(1) account(20) [signer(20) when flags & 1] providerIndex(2) maxCumulative(16) cumulative(16) sigLen(2) sig`.
    /// @param providers The providers the claims pay, with their served and failed call counts,
    /// strictly ascending by address and none zero.
    /// @return applied False when `batchId` had already been settled.
    function settle(bytes32 batchId, bytes calldata claims, ProviderReport[] calldata providers)
        external
        returns (bool applied);

    /// @notice Executes an x402 `exact` payment (a USDC `TransferWithAuthorization` to this escrow)
    /// and credits `payment.provider` with `value - fee` in the same transaction. `EXACT_PAYMENT_ROLE`
    /// only (not the settler), because the signed authorization does not name the provider: the
    /// holder chooses it, within what the payer authorized and the fee rate.
    function settleExactPayment(ExactPayment calldata payment, bytes calldata signature) external;

    // ---------------------------------------------------------------------------------------------
    // Withdrawals (never paused)
    // ---------------------------------------------------------------------------------------------

    /// @notice Starts a withdrawal of `amount`, replacing any pending one; the delay starts anew.
    /// Until it is finalized the settler can still claim the account's vouchers.
    function requestWithdrawal(uint256 amount) external;

    /// @notice Cancels the caller's pending withdrawal.
    function cancelWithdrawal() external;

    /// @notice Finalizes the caller's pending withdrawal once unlocked, paying the requested amount
    /// or the remaining balance if claims reduced it below that.
    function finalizeWithdrawal() external returns (uint256 amount);

    /// @notice Withdraws `amount` of the caller's provider credits to `to`.
    function withdrawEarnings(address to, uint256 amount) external;

    // ---------------------------------------------------------------------------------------------
    // Admin
    // ---------------------------------------------------------------------------------------------

    /// @notice Sets the fee rate in basis points, at most {MAX_FEE_BPS}. Admin only.
    function setFeeRate(uint16 bps) external;

    /// @notice Withdraws accrued fees to `to`. Admin only.
    function withdrawFees(address to, uint256 amount) external;

    /// @notice Sends USDC held beyond {totalAccounted} (sent outside any deposit) to `to`. Admin only.
    function recoverSurplus(address to) external returns (uint256 amount);

    /// @notice Stops deposits, settlement and exact payments (never withdrawals). Pauser only.
    function pause() external;

    /// @notice Lifts a pause. Pauser only.
    function unpause() external;

    // ---------------------------------------------------------------------------------------------
    // Views
    // ---------------------------------------------------------------------------------------------

    /// @notice The immutable cap of the fee rate, in basis points.
    function MAX_FEE_BPS() external view returns (uint16);

    /// @notice How long a requested withdrawal waits before it can be finalized.
    function WITHDRAWAL_DELAY() external view returns (uint64);

    /// @notice The role allowed to submit settlement batches (the weekly settlement's key only).
    function SETTLER_ROLE() external view returns (bytes32);

    /// @notice The role allowed to execute x402 `exact` payments and nothing else (the API's relayer).
    function EXACT_PAYMENT_ROLE() external view returns (bytes32);

    /// @notice The role allowed to pause and unpause.
    function PAUSER_ROLE() external view returns (bytes32);

    /// @notice The current fee rate, in basis points.
    function feeBps() external view returns (uint16);

    /// @notice USDC the escrow owes: agent balances + provider balances + accrued fees.
    function totalAccounted() external view returns (uint256);

    /// @notice Fees accrued and not yet withdrawn.
    function accruedFees() external view returns (uint256);

    /// @notice An agent's account.
    function accountOf(address account) external view returns (Account memory);

    /// @notice What was claimed so far on the (account, signer, provider) track: the cumulative total
    /// a new voucher on that track must reach to pay anything more.
    function claimedOf(address account, address signer, address provider) external view returns (uint256);

    /// @notice A delegate's authorization on an account.
    function delegationOf(address account, address delegate) external view returns (Delegation memory);

    /// @notice What a claim on `delegate`'s vouchers against `account` is checked against now: its
    /// cap (the higher one while a lowering is in its grace) and the time from which no claim is
    /// accepted (the expiry or the revocation plus `WITHDRAWAL_DELAY`; 0 = none).
    function delegateClaimLimit(address account, address delegate) external view returns (DelegateClaimLimit memory);

    /// @notice An account's pending withdrawal (zero when none).
    function pendingWithdrawalOf(address account) external view returns (PendingWithdrawal memory);

    /// @notice A provider's credited, withdrawable balance.
    function earningsOf(address provider) external view returns (uint256);

    /// @notice Whether `batchId` has been settled.
    function batchSettled(bytes32 batchId) external view returns (bool);

    /// @notice The EIP-712 digest of `Voucher(account, signer, provider, maxCumulative)`.
    function voucherDigest(address account, address signer, address provider, uint256 maxCumulative)
        external
        view
        returns (bytes32);
}
