// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControlDefaultAdminRules} from
    "@openzeppelin/contracts/access/extensions/AccessControlDefaultAdminRules.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";

import {IAgentTabEscrow} from "./interfaces/IAgentTabEscrow.sol";
import {IUSDC} from "./interfaces/IUSDC.sol";
import {ClaimCodec} from "./libraries/ClaimCodec.sol";
import {VoucherHash} from "./libraries/VoucherHash.sol";

/// @title AgentTab escrow
/// @notice See {IAgentTabEscrow}.
contract AgentTabEscrow is IAgentTabEscrow, AccessControlDefaultAdminRules, Pausable, EIP712 {
    using SafeERC20 for IUSDC;

    /// @inheritdoc IAgentTabEscrow
    bytes32 public constant SETTLER_ROLE = keccak256("SETTLER_ROLE");
    /// @inheritdoc IAgentTabEscrow
    bytes32 public constant EXACT_PAYMENT_ROLE = keccak256("EXACT_PAYMENT_ROLE");
    /// @inheritdoc IAgentTabEscrow
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");

    uint256 private constant BPS = 10_000;

    IUSDC public immutable usdc;
    /// @inheritdoc IAgentTabEscrow
    uint16 public immutable MAX_FEE_BPS;
    /// @inheritdoc IAgentTabEscrow
    uint64 public immutable WITHDRAWAL_DELAY;

    /// @inheritdoc IAgentTabEscrow
    uint16 public feeBps;
    /// @inheritdoc IAgentTabEscrow
    uint256 public totalAccounted;
    /// @inheritdoc IAgentTabEscrow
    uint256 public accruedFees;

    mapping(address account => Account) private _accounts;
    mapping(address account => mapping(address delegate => Delegation)) private _delegations;
    mapping(address account => mapping(address delegate => DelegateGrace)) private _graces;
    mapping(address account => PendingWithdrawal) private _withdrawals;
    mapping(address provider => uint256) private _earnings;
    mapping(bytes32 batchId => bool) private _settledBatches;
    /// @dev What each (account, signer, provider) track claimed so far; see {_trackKey}.
    mapping(bytes32 trackKey => uint256) private _trackClaimed;

    /// @param usdc_ The USDC token (Circle FiatToken v2.2 on Base; MockUSDC locally).
    /// @param admin The initial admin; transfers take two steps and `adminTransferDelay` seconds.
    /// @param maxFeeBps The fee-rate cap, fixed forever.
    /// @param initialFeeBps The starting fee rate.
    /// @param withdrawalDelay How long agent withdrawals wait; must exceed the settlement period.
    constructor(
        IUSDC usdc_,
        address admin,
        uint48 adminTransferDelay,
        uint16 maxFeeBps,
        uint16 initialFeeBps,
        uint64 withdrawalDelay
    ) AccessControlDefaultAdminRules(adminTransferDelay, admin) EIP712("AgentTab Escrow", "1") {
        if (address(usdc_) == address(0)) revert ZeroAddress();
        if (maxFeeBps > BPS) revert FeeRateAboveCap(maxFeeBps, BPS);
        if (initialFeeBps > maxFeeBps) revert FeeRateAboveCap(initialFeeBps, maxFeeBps);
        if (withdrawalDelay == 0) revert ZeroAmount();
        usdc = usdc_;
        MAX_FEE_BPS = maxFeeBps;
        WITHDRAWAL_DELAY = withdrawalDelay;
        feeBps = initialFeeBps;
    }

    // ---------------------------------------------------------------------------------------------
    // Deposits
    // ---------------------------------------------------------------------------------------------

    /// @inheritdoc IAgentTabEscrow
    function deposit(uint256 amount) external whenNotPaused {
        _credit(msg.sender, msg.sender, amount);
        usdc.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @inheritdoc IAgentTabEscrow
    function depositFor(address account, uint256 amount) external whenNotPaused {
        _credit(account, msg.sender, amount);
        usdc.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @inheritdoc IAgentTabEscrow
    function depositWithPermit(address owner, uint256 amount, uint256 deadline, uint8 v, bytes32 r, bytes32 s)
        external
        whenNotPaused
    {
        _credit(owner, owner, amount);
        // A failing permit (already used, expired, forged) leaves only a standing allowance, and
        // only the owner itself may choose to deposit from that: anyone else could otherwise move an
        // owner's spare allowance into the escrow, locked for the withdrawal delay.
        try usdc.permit(owner, address(this), amount, deadline, v, r, s) {}
        catch {
            if (msg.sender != owner) revert PermitFailed(owner);
        }
        usdc.safeTransferFrom(owner, address(this), amount);
    }

    /// @inheritdoc IAgentTabEscrow
    function depositWithAuthorization(
        address from,
        uint256 value,
        uint256 validAfter,
        uint256 validBefore,
        bytes32 nonce,
        bytes calldata signature
    ) external whenNotPaused {
        _credit(from, from, value);
        usdc.receiveWithAuthorization(from, address(this), value, validAfter, validBefore, nonce, signature);
    }

    function _credit(address account, address payer, uint256 amount) private {
        if (account == address(0)) revert ZeroAddress();
        if (amount == 0) revert ZeroAmount();
        Account storage a = _accounts[account];
        uint256 balance = a.balance;
        if (amount > type(uint128).max - balance) revert AmountTooLarge(amount);
        // Cannot overflow: checked against uint128 above.
        unchecked {
            balance += amount;
        }
        a.balance = uint128(balance);
        totalAccounted += amount;
        emit Deposited(account, payer, amount, balance);
    }

    // ---------------------------------------------------------------------------------------------
    // Delegates
    // ---------------------------------------------------------------------------------------------

    /// @inheritdoc IAgentTabEscrow
    function authorizeDelegate(address delegate, uint96 cap, uint40 expiresAt) external {
        if (delegate == address(0) || delegate == msg.sender) revert InvalidDelegate(delegate);
        // An expiry in the past would end claims on what the delegate already spent at once.
        if (expiresAt != 0 && expiresAt <= block.timestamp) revert ExpiryInPast(expiresAt);
        Delegation storage d = _delegations[msg.sender][delegate];
        DelegateClaimLimit memory limit = _claimLimit(msg.sender, delegate, d);
        // Lowering the cap binds claims only after the grace: until then the higher one holds.
        if (cap < limit.cap && (limit.until == 0 || block.timestamp < limit.until)) {
            DelegateGrace storage g = _graces[msg.sender][delegate];
            // Fits: limit.cap is a cap that was set as a uint96.
            g.previousCap = uint96(limit.cap);
            g.capLoweredAt = uint40(block.timestamp);
        }
        d.cap = cap;
        d.expiresAt = expiresAt;
        d.active = true;
        emit DelegateAuthorized(msg.sender, delegate, cap, expiresAt);
    }

    /// @inheritdoc IAgentTabEscrow
    function revokeDelegate(address delegate) external {
        Delegation storage d = _delegations[msg.sender][delegate];
        if (!d.active) revert DelegateNotActive(msg.sender, delegate);
        d.active = false;
        _graces[msg.sender][delegate].revokedAt = uint40(block.timestamp);
        emit DelegateRevoked(msg.sender, delegate);
    }

    /// @dev The cap and the end of claims for a delegate now (see {delegateClaimLimit}). Reads the
    /// grace slot only for a revoked delegate or one whose cap was lowered.
    function _claimLimit(address account, address delegate, Delegation storage d)
        private
        view
        returns (DelegateClaimLimit memory limit)
    {
        Delegation memory dm = d;
        limit.cap = dm.cap;
        limit.active = dm.active;
        if (dm.expiresAt != 0) limit.until = uint256(dm.expiresAt) + WITHDRAWAL_DELAY;
        DelegateGrace memory g = _graces[account][delegate];
        if (!dm.active) {
            // Never authorized: nothing to claim. Revoked: claims until the grace ends.
            if (g.revokedAt == 0) return DelegateClaimLimit(0, 0, false);
            uint256 revokedUntil = uint256(g.revokedAt) + WITHDRAWAL_DELAY;
            if (limit.until == 0 || revokedUntil < limit.until) limit.until = revokedUntil;
        }
        if (g.capLoweredAt != 0 && g.previousCap > dm.cap && block.timestamp < uint256(g.capLoweredAt) + WITHDRAWAL_DELAY) {
            limit.cap = g.previousCap;
        }
    }

    // ---------------------------------------------------------------------------------------------
    // Settlement
    // ---------------------------------------------------------------------------------------------

    /// @inheritdoc IAgentTabEscrow
    function settle(bytes32 batchId, bytes calldata claims, ProviderReport[] calldata providers)
        external
        onlyRole(SETTLER_ROLE)
        whenNotPaused
        returns (bool applied)
    {
        if (_settledBatches[batchId]) return false;
        if (claims.length == 0 && providers.length == 0) revert EmptyBatch();
        _checkProviders(providers);
        _settledBatches[batchId] = true;

        uint256[] memory gross = new uint256[](providers.length);
        (uint256 claimCount, bytes memory claimsLog) = _applyClaims(claims, providers, gross);

        (uint256 debited, uint256 totalFee) = _creditProviders(batchId, providers, gross);
        if (totalFee != 0) accruedFees += totalFee;

        emit BatchSettled(batchId, debited, totalFee, claimCount, claimsLog);
        return true;
    }

    /// @dev Credits each provider its batch gross less the fee at the rate in force (rounded down
    /// per provider) and returns the batch's total debit (every claim pays one provider) and fee.
    function _creditProviders(bytes32 batchId, ProviderReport[] calldata providers, uint256[] memory gross)
        private
        returns (uint256 debited, uint256 totalFee)
    {
        uint256 rate = feeBps;
        for (uint256 i; i < providers.length; ++i) {
            ProviderReport calldata report = providers[i];
            uint256 fee = gross[i] * rate / BPS;
            // Cannot underflow: rate <= BPS, so fee <= gross.
            uint256 credit;
            unchecked {
                credit = gross[i] - fee;
            }
            uint256 balance = _earnings[report.provider];
            if (credit != 0) {
                balance += credit;
                _earnings[report.provider] = balance;
            }
            debited += gross[i];
            totalFee += fee;
            emit ProviderCredited(batchId, report.provider, credit, report.callsServed, report.callsFailed, balance);
        }
    }

    /// @dev Provider reports are strictly ascending, so a provider appears once and its fee is
    /// computed on all it earned in the batch.
    function _checkProviders(ProviderReport[] calldata providers) private pure {
        address previous;
        for (uint256 i; i < providers.length; ++i) {
            address provider = providers[i].provider;
            if (provider == address(0)) revert ZeroAddress();
            if (provider <= previous) revert ProvidersNotAscending(i);
            previous = provider;
        }
    }

    /// @dev Verifies and applies every claim, adding each amount to `gross[providerIndex]`, and
    /// returns the number of claims and the packed log of
    /// `flags account [signer] provider amount cumulative` entries for {BatchSettled}.
    ///
    /// This loop is the gas of a settlement. The common claim (an account's own voucher with a
    /// 65-byte ECDSA signature) goes through {_applyOwnClaims}, which allocates nothing and changes
    /// state only after every check passed. Anything else, and any claim the fast path cannot
    /// accept, goes through {_applyClaim}, which handles delegates and ERC-1271 and reverts with the
    /// precise error. Both paths are exercised by the unit, fuzz and invariant tests.
    function _applyClaims(bytes calldata claims, ProviderReport[] calldata providers, uint256[] memory gross)
        private
        returns (uint256 count, bytes memory log)
    {
        uint256 logCursor;
        (log, logCursor) = _allocateLog(claims.length);
        bytes32 domainSeparator = _domainSeparatorV4();
        // One buffer for every claim read, so the loop allocates no memory per claim.
        ClaimCodec.Claim memory claim;
        uint256 offset;
        while (offset < claims.length) {
            (offset, count, logCursor) = _applyOwnClaims(claims, offset, providers, gross, domainSeparator, count, logCursor);
            if (offset == claims.length) break;
            (uint256 amount, address provider, uint256 next) =
                _applyClaim(claims, offset, providers, domainSeparator, claim);
            gross[claim.providerIndex] += amount;
            logCursor = _appendLog(logCursor, claim, provider, amount);
            offset = next;
            ++count;
        }
        _sealLog(log, logCursor);
    }

    /// @dev The fast path: applies claims from `offset` on while they are an account's own voucher
    /// with a 65-byte signature that recovers to the account and every check passes, and returns
    /// where it stopped. Same checks and effects as {_applyClaim} + {_debit} + {_appendLog} for
    /// such a claim, in assembly. It keeps the last account's slot in a register between
    /// consecutive claims of that account (a settlement groups an account's tracks), and writes it
    /// back when the account changes or the path stops.
    function _applyOwnClaims(
        bytes calldata claims,
        uint256 offset,
        ProviderReport[] calldata providers,
        uint256[] memory gross,
        bytes32 domainSeparator,
        uint256 count,
        uint256 logCursor
    ) private returns (uint256, uint256, uint256) {
        bytes32 typeHash = VoucherHash.VOUCHER_TYPEHASH;
        uint256 accountsSlot;
        uint256 tracksSlot;
        assembly ("memory-safe") {
            accountsSlot := _accounts.slot
            tracksSlot := _trackClaimed.slot
            // The account whose slot is cached (0: none), the slot and its pending value.
            let cached := 0
            let cachedSlot := 0
            let packed := 0
            for {} lt(offset, claims.length) {} {
                // Own claim: flags(1)=0 account(20) providerIndex(2) max(16) cumulative(16) sigLen(2)=65 r s v.
                if lt(sub(claims.length, offset), 122) { break }
                let p := add(claims.offset, offset)
                let head := calldataload(p)
                let account := and(shr(88, head), 0xffffffffffffffffffffffffffffffffffffffff)
                let index := and(shr(72, head), 0xffff)
                let maxCumulative := shr(128, calldataload(add(p, 23)))
                let cumulative := shr(128, calldataload(add(p, 39)))
                let s := calldataload(add(p, 89))
                if iszero(
                    and(
                        and(iszero(byte(0, head)), lt(index, providers.length)),
                        and(
                            eq(shr(240, calldataload(add(p, 55))), 65),
                            and(
                                iszero(gt(cumulative, maxCumulative)),
                                iszero(gt(s, 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0))
                            )
                        )
                    )
                ) { break }
                // ProviderReport is three static words; the provider was checked by _checkProviders.
                let provider := calldataload(add(providers.offset, mul(index, 0x60)))
                let ptr := mload(0x40)
                mstore(ptr, typeHash)
                mstore(add(ptr, 0x20), account)
                mstore(add(ptr, 0x40), account)
                mstore(add(ptr, 0x60), provider)
                mstore(add(ptr, 0x80), maxCumulative)
                let structHash := keccak256(ptr, 0xa0)
                mstore(ptr, hex"1901")
                mstore(add(ptr, 0x02), domainSeparator)
                mstore(add(ptr, 0x22), structHash)
                mstore(ptr, keccak256(ptr, 0x42))
                mstore(add(ptr, 0x20), byte(0, calldataload(add(p, 121))))
                mstore(add(ptr, 0x40), calldataload(add(p, 57)))
                mstore(add(ptr, 0x60), s)
                mstore(0x00, 0)
                // The precompile returns no data for an invalid signature.
                pop(staticcall(gas(), 0x01, ptr, 0x80, 0x00, 0x20))
                if iszero(and(eq(returndatasize(), 0x20), eq(mload(0x00), account))) { break }
                // The track: _trackClaimed[keccak256(abi.encode(account, account, provider))].
                mstore(ptr, account)
                mstore(add(ptr, 0x20), account)
                mstore(add(ptr, 0x40), provider)
                mstore(0x00, keccak256(ptr, 0x60))
                mstore(0x20, tracksSlot)
                let trackSlot := keccak256(0x00, 0x40)
                let trackClaimed := sload(trackSlot)
                if lt(cumulative, trackClaimed) { break }
                let amount := sub(cumulative, trackClaimed)
                if iszero(eq(account, cached)) {
                    if cached { sstore(cachedSlot, packed) }
                    mstore(0x00, account)
                    mstore(0x20, accountsSlot)
                    cachedSlot := keccak256(0x00, 0x40)
                    packed := sload(cachedSlot)
                    cached := account
                }
                // Account: balance in the low 128 bits, claimed total in the high 128.
                let available := and(packed, 0xffffffffffffffffffffffffffffffff)
                let claimed := add(shr(128, packed), amount)
                if or(gt(amount, available), gt(claimed, 0xffffffffffffffffffffffffffffffff)) { break }
                packed := or(shl(128, claimed), sub(available, amount))
                sstore(trackSlot, cumulative)
                let grossAt := add(add(gross, 0x20), mul(index, 0x20))
                // Cannot overflow: each amount is below 2^128 and there are fewer than 2^64 claims.
                mstore(grossAt, add(mload(grossAt), amount))
                mstore(logCursor, shl(88, account))
                mstore(add(logCursor, 21), shl(96, provider))
                mstore(add(logCursor, 41), or(shl(128, amount), cumulative))
                logCursor := add(logCursor, 73)
                offset := add(offset, 122)
                count := add(count, 1)
            }
            if cached { sstore(cachedSlot, packed) }
        }
        return (offset, count, logCursor);
    }

    /// @dev Reads the claim at `offset` into `claim`, checks it against its voucher and applies it.
    function _applyClaim(
        bytes calldata claims,
        uint256 offset,
        ProviderReport[] calldata providers,
        bytes32 domainSeparator,
        ClaimCodec.Claim memory claim
    ) private returns (uint256 amount, address provider, uint256 next) {
        bytes calldata signature;
        (signature, next) = ClaimCodec.read(claims, offset, claim);
        if (claim.providerIndex >= providers.length) revert MalformedClaim(offset);
        provider = providers[claim.providerIndex].provider;
        if (claim.cumulative > claim.maxCumulative) {
            revert ClaimAboveVoucher(claim.account, claim.signer, claim.maxCumulative, claim.cumulative);
        }
        bytes32 digest = VoucherHash.toTypedDataHash(
            domainSeparator, VoucherHash.hashVoucher(claim.account, claim.signer, provider, claim.maxCumulative)
        );
        if (!_isValidSignature(claim.signer, digest, signature)) {
            revert InvalidVoucherSignature(claim.account, claim.signer);
        }
        amount = _debit(claim, provider);
    }

    /// @dev Moves the claim's amount (its cumulative beyond what its track claimed) from the
    /// account's balance to its claimed total, and counts it against a delegate's cap.
    function _debit(ClaimCodec.Claim memory claim, address provider) private returns (uint256 amount) {
        bytes32 track = _trackKey(claim.account, claim.signer, provider);
        uint256 trackClaimed = _trackClaimed[track];
        if (claim.cumulative < trackClaimed) {
            revert ClaimBelowClaimed(claim.account, claim.signer, trackClaimed, claim.cumulative);
        }
        // Cannot underflow: checked just above.
        unchecked {
            amount = claim.cumulative - trackClaimed;
        }
        _trackClaimed[track] = claim.cumulative;
        if (claim.flags != 0) _chargeDelegate(claim.account, claim.signer, amount);

        Account storage a = _accounts[claim.account];
        (uint128 balance, uint128 claimed) = (a.balance, a.claimed);
        if (amount > balance) revert InsufficientBalance(claim.account, balance, amount);
        // Fits: amount <= balance, a uint128. The claimed total is checked (it only grows).
        (a.balance, a.claimed) = (balance - uint128(amount), claimed + uint128(amount));
    }

    /// @dev Counts `amount` against `delegate`'s cap on `account`, over all its providers.
    function _chargeDelegate(address account, address delegate, uint256 amount) private {
        Delegation storage d = _delegations[account][delegate];
        (uint256 cap, uint256 claimed, uint256 expiresAt, bool active) = (d.cap, d.claimed, d.expiresAt, d.active);
        if (expiresAt != 0 && block.timestamp >= expiresAt + WITHDRAWAL_DELAY) {
            revert DelegateExpired(account, delegate, expiresAt);
        }
        uint256 total = claimed + amount;
        // The common case (active, within its cap) reads one slot; a revocation or a lowered cap
        // is checked against its grace.
        if (!active || total > cap) _checkGrace(account, delegate, d, total);
        // Fits: total <= a cap that was set as a uint96 (checked above or by {_checkGrace}).
        d.claimed = uint96(total);
    }

    /// @dev Checks a delegate's new total against its limit with the grace of a revocation or a
    /// lowered cap (see {_claimLimit}).
    function _checkGrace(address account, address delegate, Delegation storage d, uint256 total) private view {
        DelegateClaimLimit memory limit = _claimLimit(account, delegate, d);
        if (!limit.active && (limit.until == 0 || block.timestamp >= limit.until)) {
            revert DelegateNotActive(account, delegate);
        }
        if (total > limit.cap) revert ClaimAboveDelegateCap(account, delegate, limit.cap, total);
    }

    /// @dev The key of the (account, signer, provider) spend track:
    /// keccak256(abi.encode(account, signer, provider)), hashed in scratch memory.
    function _trackKey(address account, address signer, address provider) private pure returns (bytes32 key) {
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore(ptr, and(account, 0xffffffffffffffffffffffffffffffffffffffff))
            mstore(add(ptr, 0x20), and(signer, 0xffffffffffffffffffffffffffffffffffffffff))
            mstore(add(ptr, 0x40), and(provider, 0xffffffffffffffffffffffffffffffffffffffff))
            key := keccak256(ptr, 0x60)
        }
    }

    /// @dev ECDSA first, straight to the precompile and with no code lookup for the common EOA
    /// signer; then ERC-1271 for smart-contract wallets (and EIP-7702 accounts that validate
    /// another way). High-s (malleable) signatures are refused like OpenZeppelin's ECDSA does.
    function _isValidSignature(address signer, bytes32 digest, bytes calldata signature)
        private
        view
        returns (bool)
    {
        if (signature.length == 65) {
            address recovered;
            assembly ("memory-safe") {
                let s := calldataload(add(signature.offset, 0x20))
                if iszero(gt(s, 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0)) {
                    let ptr := mload(0x40)
                    mstore(ptr, digest)
                    mstore(add(ptr, 0x20), byte(0, calldataload(add(signature.offset, 0x40))))
                    mstore(add(ptr, 0x40), calldataload(signature.offset))
                    mstore(add(ptr, 0x60), s)
                    // The precompile returns no data for an invalid signature; `recovered` stays 0.
                    if staticcall(gas(), 0x01, ptr, 0x80, 0x00, 0x20) {
                        if eq(returndatasize(), 0x20) { recovered := mload(0x00) }
                    }
                }
            }
            if (recovered != address(0) && recovered == signer) return true;
        }
        return signer.code.length != 0 && SignatureChecker.isValidERC1271SignatureNowCalldata(signer, digest, signature);
    }

    /// @dev Reserves room for the log of a batch of `claimsLength` bytes, without zeroing it: every
    /// byte up to the final length is written by {_appendLog}. Each entry is at most
    /// `ClaimCodec.LOG_GROWTH` bytes longer than its claim, and a claim is at least
    /// `ClaimCodec.MIN_CLAIM_LENGTH` bytes.
    function _allocateLog(uint256 claimsLength) private pure returns (bytes memory log, uint256 cursor) {
        uint256 bound = claimsLength + ClaimCodec.LOG_GROWTH * (claimsLength / ClaimCodec.MIN_CLAIM_LENGTH);
        assembly ("memory-safe") {
            log := mload(0x40)
            cursor := add(log, 0x20)
            mstore(0x40, and(add(add(cursor, bound), 31), not(31)))
        }
    }

    /// @dev Sets the log's length to what was written, and gives the unused reserve back (nothing
    /// allocated after the log is live by then), so the event's encoding does not pay for it.
    function _sealLog(bytes memory log, uint256 cursor) private pure {
        assembly ("memory-safe") {
            mstore(log, sub(cursor, add(log, 0x20)))
            mstore(0x40, and(add(cursor, 31), not(31)))
        }
    }

    /// @dev Writes `flags(1) account(20) [signer(20)] provider(20) amount(16) cumulative(16)` at
    /// `cursor` and returns where the next entry starts.
    function _appendLog(uint256 cursor, ClaimCodec.Claim memory claim, address provider, uint256 amount)
        private
        pure
        returns (uint256)
    {
        uint256 flags = claim.flags;
        address account = claim.account;
        address signer = claim.signer;
        uint256 cumulative = claim.cumulative;
        assembly ("memory-safe") {
            // Full-word stores: each spills zeros over bytes that the next store overwrites, and the
            // last ends exactly at the entry's end.
            mstore(cursor, or(shl(248, flags), shl(88, account)))
            cursor := add(cursor, 21)
            if flags {
                mstore(cursor, shl(96, signer))
                cursor := add(cursor, 20)
            }
            mstore(cursor, shl(96, provider))
            cursor := add(cursor, 20)
            mstore(cursor, or(shl(128, amount), cumulative))
            cursor := add(cursor, 32)
        }
        return cursor;
    }

    /// @inheritdoc IAgentTabEscrow
    function settleExactPayment(ExactPayment calldata payment, bytes calldata signature)
        external
        onlyRole(EXACT_PAYMENT_ROLE)
        whenNotPaused
    {
        if (payment.provider == address(0)) revert ZeroAddress();
        if (payment.value == 0) revert ZeroAmount();
        if (payment.fee > payment.value) revert FeeAboveValue(payment.fee, payment.value);
        uint256 maxFee = payment.value * feeBps / BPS;
        if (payment.fee > maxFee) revert FeeAboveRate(payment.fee, maxFee);

        uint256 balance = _earnings[payment.provider] + (payment.value - payment.fee);
        _earnings[payment.provider] = balance;
        if (payment.fee != 0) accruedFees += payment.fee;
        totalAccounted += payment.value;
        emit ExactPaymentSettled(payment.from, payment.provider, payment.nonce, payment.value, payment.fee, balance);

        usdc.transferWithAuthorization(
            payment.from,
            address(this),
            payment.value,
            payment.validAfter,
            payment.validBefore,
            payment.nonce,
            signature
        );
    }

    // ---------------------------------------------------------------------------------------------
    // Withdrawals
    // ---------------------------------------------------------------------------------------------

    /// @inheritdoc IAgentTabEscrow
    function requestWithdrawal(uint256 amount) external {
        if (amount == 0) revert ZeroAmount();
        uint256 balance = _accounts[msg.sender].balance;
        if (amount > balance) revert InsufficientBalance(msg.sender, balance, amount);
        uint64 unlockAt = uint64(block.timestamp) + WITHDRAWAL_DELAY;
        // Fits: amount <= balance, a uint128.
        _withdrawals[msg.sender] = PendingWithdrawal(uint128(amount), unlockAt);
        emit WithdrawalRequested(msg.sender, amount, unlockAt);
    }

    /// @inheritdoc IAgentTabEscrow
    function cancelWithdrawal() external {
        if (_withdrawals[msg.sender].unlockAt == 0) revert NoPendingWithdrawal(msg.sender);
        delete _withdrawals[msg.sender];
        emit WithdrawalCancelled(msg.sender);
    }

    /// @inheritdoc IAgentTabEscrow
    function finalizeWithdrawal() external returns (uint256 amount) {
        PendingWithdrawal memory w = _withdrawals[msg.sender];
        if (w.unlockAt == 0) revert NoPendingWithdrawal(msg.sender);
        if (block.timestamp < w.unlockAt) revert WithdrawalLocked(msg.sender, w.unlockAt);
        Account storage a = _accounts[msg.sender];
        uint256 balance = a.balance;
        amount = w.amount < balance ? w.amount : balance;
        // Cannot underflow: amount <= balance.
        unchecked {
            balance -= amount;
        }
        a.balance = uint128(balance);
        totalAccounted -= amount;
        delete _withdrawals[msg.sender];
        emit WithdrawalFinalized(msg.sender, amount, balance);
        if (amount != 0) usdc.safeTransfer(msg.sender, amount);
    }

    /// @inheritdoc IAgentTabEscrow
    function withdrawEarnings(address to, uint256 amount) external {
        if (to == address(0)) revert ZeroAddress();
        if (amount == 0) revert ZeroAmount();
        uint256 balance = _earnings[msg.sender];
        if (amount > balance) revert InsufficientEarnings(msg.sender, balance, amount);
        // Cannot underflow: checked just above.
        unchecked {
            balance -= amount;
        }
        _earnings[msg.sender] = balance;
        totalAccounted -= amount;
        emit EarningsWithdrawn(msg.sender, to, amount, balance);
        usdc.safeTransfer(to, amount);
    }

    // ---------------------------------------------------------------------------------------------
    // Admin
    // ---------------------------------------------------------------------------------------------

    /// @inheritdoc IAgentTabEscrow
    function setFeeRate(uint16 bps) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (bps > MAX_FEE_BPS) revert FeeRateAboveCap(bps, MAX_FEE_BPS);
        emit FeeRateUpdated(feeBps, bps);
        feeBps = bps;
    }

    /// @inheritdoc IAgentTabEscrow
    function withdrawFees(address to, uint256 amount) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (to == address(0)) revert ZeroAddress();
        if (amount == 0) revert ZeroAmount();
        uint256 accrued = accruedFees;
        if (amount > accrued) revert InsufficientFees(accrued, amount);
        // Cannot underflow: checked just above.
        unchecked {
            accruedFees = accrued - amount;
        }
        totalAccounted -= amount;
        emit FeesWithdrawn(to, amount);
        usdc.safeTransfer(to, amount);
    }

    /// @inheritdoc IAgentTabEscrow
    function recoverSurplus(address to) external onlyRole(DEFAULT_ADMIN_ROLE) returns (uint256 amount) {
        if (to == address(0)) revert ZeroAddress();
        uint256 held = usdc.balanceOf(address(this));
        uint256 owed = totalAccounted;
        if (held <= owed) revert ZeroAmount();
        // Cannot underflow: held > owed.
        unchecked {
            amount = held - owed;
        }
        emit SurplusRecovered(to, amount);
        usdc.safeTransfer(to, amount);
    }

    /// @inheritdoc IAgentTabEscrow
    function pause() external onlyRole(PAUSER_ROLE) {
        _pause();
    }

    /// @inheritdoc IAgentTabEscrow
    function unpause() external onlyRole(PAUSER_ROLE) {
        _unpause();
    }

    // ---------------------------------------------------------------------------------------------
    // Views
    // ---------------------------------------------------------------------------------------------

    /// @inheritdoc IAgentTabEscrow
    function accountOf(address account) external view returns (Account memory) {
        return _accounts[account];
    }

    /// @inheritdoc IAgentTabEscrow
    function claimedOf(address account, address signer, address provider) external view returns (uint256) {
        return _trackClaimed[_trackKey(account, signer, provider)];
    }

    /// @inheritdoc IAgentTabEscrow
    function delegationOf(address account, address delegate) external view returns (Delegation memory) {
        return _delegations[account][delegate];
    }

    /// @inheritdoc IAgentTabEscrow
    function delegateClaimLimit(address account, address delegate) external view returns (DelegateClaimLimit memory) {
        return _claimLimit(account, delegate, _delegations[account][delegate]);
    }

    /// @inheritdoc IAgentTabEscrow
    function pendingWithdrawalOf(address account) external view returns (PendingWithdrawal memory) {
        return _withdrawals[account];
    }

    /// @inheritdoc IAgentTabEscrow
    function earningsOf(address provider) external view returns (uint256) {
        return _earnings[provider];
    }

    /// @inheritdoc IAgentTabEscrow
    function batchSettled(bytes32 batchId) external view returns (bool) {
        return _settledBatches[batchId];
    }

    /// @inheritdoc IAgentTabEscrow
    function voucherDigest(address account, address signer, address provider, uint256 maxCumulative)
        external
        view
        returns (bytes32)
    {
        return _hashTypedDataV4(VoucherHash.hashVoucher(account, signer, provider, maxCumulative));
    }
}
