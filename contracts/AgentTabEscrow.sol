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
    function settle(bytes32 batchId, bytes calldata claims, Payout[] calldata payouts, uint256 fee)
        external
        onlyRole(SETTLER_ROLE)
        whenNotPaused
        returns (bool applied)
    {
        if (_settledBatches[batchId]) return false;
        if (claims.length == 0 && payouts.length == 0) revert EmptyBatch();
        _settledBatches[batchId] = true;

        (uint256 debited, uint256 claimCount, bytes memory claimsLog) = _applyClaims(claims);

        uint256 credited;
        for (uint256 i; i < payouts.length; ++i) {
            Payout calldata p = payouts[i];
            if (p.provider == address(0)) revert ZeroAddress();
            uint256 balance = _earnings[p.provider] + p.amount;
            _earnings[p.provider] = balance;
            credited += p.amount;
            emit ProviderCredited(batchId, p.provider, p.amount, p.callsServed, p.callsFailed, balance);
        }
        if (debited != credited + fee) revert BatchUnbalanced(debited, credited + fee);
        uint256 maxFee = debited * feeBps / BPS;
        if (fee > maxFee) revert FeeAboveRate(fee, maxFee);
        if (fee != 0) accruedFees += fee;

        emit BatchSettled(batchId, debited, fee, claimCount, claimsLog);
        return true;
    }

    /// @dev Verifies and applies every claim, returning the total debited and the packed log of
    /// `flags account [signer] amount cumulative` entries for {BatchSettled}.
    ///
    /// This loop is the gas of a settlement. The common claim (an EOA's own voucher, 65-byte
    /// signature) takes a fast path written in assembly that allocates nothing and changes state
    /// only after every check passed. Anything else, and any claim the fast path cannot accept,
    /// goes through {_applyClaimAt}, which handles delegates and ERC-1271 and reverts with the
    /// precise error. Both paths are exercised by the unit, fuzz and invariant tests.
    function _applyClaims(bytes calldata claims)
        private
        returns (uint256 debited, uint256 count, bytes memory log)
    {
        // Each log entry is shorter than the claim it records (amount replaces maxCumulative, the
        // signature and its length are dropped), so the input length bounds the log.
        log = new bytes(claims.length);
        bytes32 domainSeparator = _domainSeparatorV4();
        bytes32 typeHash = VoucherHash.VOUCHER_TYPEHASH;
        uint256 logCursor;
        uint256 accountsSlot;
        assembly ("memory-safe") {
            logCursor := add(log, 0x20)
            accountsSlot := _accounts.slot
        }
        uint256 offset;
        while (offset < claims.length) {
            assembly ("memory-safe") {
                // Runs own claims until one does not fit the fast path (or the data ends).
                for {} lt(offset, claims.length) {} {
                    // Own claim layout: flags(1)=0 account(20) max(16) cumulative(16) sigLen(2)=65 r s v.
                    let p := add(claims.offset, offset)
                    let account := shr(96, calldataload(add(p, 1)))
                    let maxCumulative := shr(128, calldataload(add(p, 21)))
                    let cumulative := shr(128, calldataload(add(p, 37)))
                    let s := calldataload(add(p, 87))
                    if iszero(
                        and(
                            and(iszero(lt(sub(claims.length, offset), 120)), iszero(byte(0, calldataload(p)))),
                            and(
                                eq(shr(240, calldataload(add(p, 53))), 65),
                                and(
                                    iszero(gt(cumulative, maxCumulative)),
                                    iszero(gt(s, 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0))
                                )
                            )
                        )
                    ) { break }
                    let ptr := mload(0x40)
                    mstore(ptr, typeHash)
                    mstore(add(ptr, 0x20), account)
                    mstore(add(ptr, 0x40), maxCumulative)
                    let structHash := keccak256(ptr, 0x60)
                    mstore(ptr, hex"1901")
                    mstore(add(ptr, 0x02), domainSeparator)
                    mstore(add(ptr, 0x22), structHash)
                    mstore(ptr, keccak256(ptr, 0x42))
                    mstore(add(ptr, 0x20), byte(0, calldataload(add(p, 119))))
                    mstore(add(ptr, 0x40), calldataload(add(p, 55)))
                    mstore(add(ptr, 0x60), s)
                    mstore(0x00, 0)
                    // The precompile returns no data for an invalid signature.
                    pop(staticcall(gas(), 0x01, ptr, 0x80, 0x00, 0x20))
                    if iszero(and(eq(returndatasize(), 0x20), eq(mload(0x00), account))) { break }
                    mstore(0x00, account)
                    mstore(0x20, accountsSlot)
                    let slot := keccak256(0x00, 0x40)
                    let packed := sload(slot)
                    let available := and(packed, 0xffffffffffffffffffffffffffffffff)
                    let claimed := shr(128, packed)
                    let amount := sub(cumulative, claimed)
                    if or(lt(cumulative, claimed), gt(amount, available)) { break }
                    sstore(slot, or(shl(128, cumulative), sub(available, amount)))
                    mstore(logCursor, shl(88, account))
                    mstore(add(logCursor, 21), or(shl(128, amount), cumulative))
                    logCursor := add(logCursor, 53)
                    offset := add(offset, 120)
                    // Cannot overflow: each amount is below 2^128 and there are fewer than 2^64 claims.
                    debited := add(debited, amount)
                    count := add(count, 1)
                }
            }
            if (offset < claims.length) {
                uint256 amount;
                (amount, offset, logCursor) = _applyClaimAt(claims, offset, domainSeparator, logCursor);
                debited += amount;
                ++count;
            }
        }
        assembly ("memory-safe") {
            mstore(log, sub(logCursor, add(log, 0x20)))
        }
    }

    /// @dev The general path for one claim: any signer kind, delegates, and every rejection.
    function _applyClaimAt(bytes calldata claims, uint256 offset, bytes32 domainSeparator, uint256 logCursor)
        private
        returns (uint256 amount, uint256 next, uint256 nextLogCursor)
    {
        uint256 flags;
        address account;
        address signer;
        uint256 cumulative;
        {
            uint256 maxCumulative;
            bytes calldata signature;
            (flags, account, signer, maxCumulative, cumulative, signature, next) = ClaimCodec.read(claims, offset);
            if (cumulative > maxCumulative) revert ClaimAboveVoucher(account, signer, maxCumulative, cumulative);
            bytes32 digest =
                VoucherHash.toTypedDataHash(domainSeparator, VoucherHash.hashVoucher(account, maxCumulative));
            if (!_isValidSignature(signer, digest, signature)) revert InvalidVoucherSignature(account, signer);
        }
        amount = flags == 0 ? _debitOwn(account, cumulative) : _debitDelegated(account, signer, cumulative);
        nextLogCursor = _appendLog(logCursor, flags, account, signer, amount, cumulative);
    }

    /// @dev A claim on the account's own voucher: balance and claimed total share one slot, written once.
    function _debitOwn(address account, uint256 cumulative) private returns (uint256 amount) {
        Account storage a = _accounts[account];
        uint256 balance = a.balance;
        uint256 claimed = a.claimed;
        if (cumulative < claimed) revert ClaimBelowClaimed(account, account, claimed, cumulative);
        // Cannot underflow: checked just above.
        unchecked {
            amount = cumulative - claimed;
        }
        if (amount > balance) revert InsufficientBalance(account, balance, amount);
        // Fits and cannot underflow: amount <= balance, and ClaimCodec reads cumulative from 16 bytes.
        unchecked {
            uint256 packed = (cumulative << 128) | (balance - amount);
            assembly ("memory-safe") {
                sstore(a.slot, packed)
            }
        }
    }

    /// @dev A claim on a delegate's voucher: checked against the delegation, debited from the account.
    function _debitDelegated(address account, address delegate, uint256 cumulative) private returns (uint256 amount) {
        Delegation storage d = _delegations[account][delegate];
        Delegation memory dm = d;
        if (dm.expiresAt != 0 && block.timestamp >= uint256(dm.expiresAt) + WITHDRAWAL_DELAY) {
            revert DelegateExpired(account, delegate, dm.expiresAt);
        }
        // The common case (active, within its cap) reads one slot; a revocation or a lowered cap
        // is checked against its grace.
        if (!dm.active || cumulative > dm.cap) {
            DelegateClaimLimit memory limit = _claimLimit(account, delegate, d);
            if (!dm.active && (limit.until == 0 || block.timestamp >= limit.until)) revert DelegateNotActive(account, delegate);
            if (cumulative > limit.cap) revert ClaimAboveDelegateCap(account, delegate, limit.cap, cumulative);
        }
        if (cumulative < dm.claimed) revert ClaimBelowClaimed(account, delegate, dm.claimed, cumulative);
        // Cannot underflow: checked just above.
        unchecked {
            amount = cumulative - dm.claimed;
        }
        // Fits: cumulative <= cap, a uint96.
        d.claimed = uint96(cumulative);
        Account storage a = _accounts[account];
        uint256 balance = a.balance;
        if (amount > balance) revert InsufficientBalance(account, balance, amount);
        // Cannot underflow: checked just above.
        unchecked {
            a.balance = uint128(balance - amount);
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

    /// @dev Writes `flags(1) account(20) [signer(20)] amount(16) cumulative(16)` at `cursor` and
    /// returns where the next entry starts.
    function _appendLog(uint256 cursor, uint256 flags, address account, address signer, uint256 amount, uint256 cumulative)
        private
        pure
        returns (uint256)
    {
        assembly ("memory-safe") {
            // Full-word stores: the first spills zeros over bytes that the next store overwrites,
            // and the last ends exactly at the entry's end.
            mstore(cursor, or(shl(248, flags), shl(88, account)))
            cursor := add(cursor, 21)
            if flags {
                mstore(cursor, shl(96, signer))
                cursor := add(cursor, 20)
            }
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
    function voucherDigest(address account, uint256 maxCumulative) external view returns (bytes32) {
        return _hashTypedDataV4(VoucherHash.hashVoucher(account, maxCumulative));
    }
}
