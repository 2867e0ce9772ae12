// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";

/// @title Shared part of two prototype settlements where every voucher names the provider it pays
/// (issue 13), so that no operator key decides who receives what was claimed.
/// @notice Benchmark prototypes only (test/solidity/bench/VoucherFormsGas.t.sol), not the escrow.
/// They do what a settlement must do on the path every claim of a normal week takes, with the same
/// storage kinds the escrow uses, and revert on anything else with no precise error: own-signed
/// EOA vouchers only (no delegates, no ERC-1271), no deposits or withdrawals besides a test funding
/// hook, no pause/role administration besides the two reads `settle` does.
///
/// Batch layout (`data`), shared by both forms:
///   providerCount(1) provider(20)*providerCount  claims...
/// The provider table is strictly ascending (so a table index orders like the address it names)
/// and claims name a provider by its one-byte index: the address a voucher signs is read from the
/// table, so the signature still binds the real address. Each provider's gross is summed in memory
/// while claims are applied and credited once, less a fee of floor(gross * feeBps / 10_000).
///
/// `BatchSettled` carries a packed log of what every claim took, like the escrow's:
///   the provider table, then per claim the form's entries (see each form). Optional
///   (`emitClaimsLog`), so that its share of the gas can be measured.
abstract contract PayeeBoundSettlementBase is EIP712 {
    error NotSettler();
    error SettlementPaused();
    error BadProviderTable();
    error BadClaim(uint256 offset);

    event ProviderCredited(bytes32 indexed batchId, address indexed provider, uint256 amount, uint256 fee, uint256 balance);
    event BatchSettled(bytes32 indexed batchId, uint256 debited, uint256 fee, uint256 claimCount, bytes claims);

    uint256 internal constant BPS = 10_000;
    uint256 internal constant HALF_ORDER = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0;
    bytes32 internal constant BATCH_SETTLED_TOPIC =
        keccak256("BatchSettled(bytes32,uint256,uint256,uint256,bytes)");

    bool public immutable emitClaimsLog;

    // slot 0: the fee rate and the pause flag, read together once per batch.
    uint16 public feeBps;
    bool public paused;
    uint256 public accruedFees;
    mapping(address settler => bool) public isSettler;
    mapping(bytes32 batchId => bool) public batchSettled;
    mapping(address provider => uint256) internal _earnings;
    /// @dev One slot per account; its layout belongs to the form.
    mapping(address account => uint256) internal _accounts;
    /// @dev Per-track state, keyed by a hash the form defines.
    mapping(bytes32 key => uint256) internal _tracks;

    constructor(address settler, uint16 feeBps_, bool emitClaimsLog_) EIP712("AgentTab Escrow", "1") {
        isSettler[settler] = true;
        feeBps = feeBps_;
        emitClaimsLog = emitClaimsLog_;
    }

    /// @notice Benchmark hook: gives `account` a balance without moving tokens (the settlement
    /// itself never touches the token).
    function fund(address account, uint256 amount) external virtual;

    function earningsOf(address provider) external view returns (uint256) {
        return _earnings[provider];
    }

    function domainSeparator() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    function settle(bytes32 batchId, bytes calldata data) external returns (bool) {
        if (!isSettler[msg.sender]) revert NotSettler();
        if (paused) revert SettlementPaused();
        uint256 rate = feeBps;
        if (batchSettled[batchId]) return false;
        batchSettled[batchId] = true;

        uint256 n;
        if (data.length != 0) n = uint8(data[0]);
        if (data.length < 1 + 20 * n) revert BadProviderTable();
        assembly ("memory-safe") {
            let last := 0
            for { let i := 0 } lt(i, n) { i := add(i, 1) } {
                let provider := shr(96, calldataload(add(add(data.offset, 1), mul(i, 20))))
                if iszero(gt(provider, last)) {
                    mstore(0x00, 0xf35528b9) // BadProviderTable()
                    revert(0x1c, 0x04)
                }
                last := provider
            }
        }
        uint256[] memory gross = new uint256[](n);
        (uint256 debited, uint256 count, uint256 logHead, uint256 logLength) = _applyClaims(data, n, gross);

        uint256 feeTotal;
        for (uint256 i; i < n; ++i) {
            uint256 g = gross[i];
            if (g == 0) continue;
            address provider;
            assembly ("memory-safe") {
                provider := shr(96, calldataload(add(add(data.offset, 1), mul(i, 20))))
            }
            uint256 fee = g * rate / BPS;
            uint256 balance = _earnings[provider] + (g - fee);
            _earnings[provider] = balance;
            feeTotal += fee;
            emit ProviderCredited(batchId, provider, g - fee, fee, balance);
        }
        if (feeTotal != 0) accruedFees += feeTotal;

        if (logHead == 0) {
            emit BatchSettled(batchId, debited, feeTotal, count, "");
        } else {
            // The log was written after a five-word ABI head reserved for this event.
            bytes32 topic = BATCH_SETTLED_TOPIC;
            assembly ("memory-safe") {
                mstore(logHead, debited)
                mstore(add(logHead, 0x20), feeTotal)
                mstore(add(logHead, 0x40), count)
                mstore(add(logHead, 0x60), 0x80)
                mstore(add(logHead, 0x80), logLength)
                log2(logHead, add(0xa0, and(add(logLength, 0x1f), not(0x1f))), topic, batchId)
            }
        }
        return true;
    }

    /// @dev Verifies and applies every claim after the provider table, adding each claim's amount
    /// to `gross[providerIndex]`. Returns where the log's ABI head starts (0: no log) and its length.
    function _applyClaims(bytes calldata data, uint256 n, uint256[] memory gross)
        internal
        virtual
        returns (uint256 debited, uint256 count, uint256 logHead, uint256 logLength);
}


/// @title (A) Track form: one voucher per (account, signer, provider) track.
/// @notice Voucher(address account,address signer,address provider,uint256 maxCumulative).
/// Storage: `_tracks[keccak256(abi.encode(account, signer, provider))]` = claimed on the track;
/// `_accounts[account]` = totalClaimed(128) | balance(128), read and written once per run of an
/// account's claims.
///
/// Claims, grouped by account:
///   flags(1)=0 account(20) trackCount(1), then per track
///   providerIndex(1) maxCumulative(16) cumulative(16) r(32) s(32) v(1)      (98 bytes)
/// Log entry per claim: account(20) providerIndex(1) amount(16) cumulative(16).
contract TrackFormSettlement is PayeeBoundSettlementBase {
    /// @dev keccak256("Voucher(address account,address signer,address provider,uint256 maxCumulative)")
    uint256 public constant VOUCHER_TYPEHASH = 0x23e019eb59004957d117f63ddaabc9ae1ced820f4f8c592de11f6e115039b004;

    constructor(address settler, uint16 feeBps_, bool emitClaimsLog_)
        PayeeBoundSettlementBase(settler, feeBps_, emitClaimsLog_)
    {
        require(
            bytes32(VOUCHER_TYPEHASH)
                == keccak256("Voucher(address account,address signer,address provider,uint256 maxCumulative)")
        );
    }

    function fund(address account, uint256 amount) external override {
        _accounts[account] += amount;
    }

    function balanceOf(address account) external view returns (uint256) {
        return uint128(_accounts[account]);
    }

    function claimedOn(address account, address signer, address provider) external view returns (uint256) {
        return _tracks[keccak256(abi.encode(account, signer, provider))];
    }

    function _applyClaims(bytes calldata data, uint256 n, uint256[] memory gross)
        internal
        override
        returns (uint256 debited, uint256 count, uint256 logHead, uint256 logLength)
    {
        bytes32 separator = _domainSeparatorV4();
        bool withLog = emitClaimsLog;
        assembly ("memory-safe") {
            function fail(at) {
                mstore(0x00, 0xec23f45a) // BadClaim(uint256)
                mstore(0x20, at)
                revert(0x1c, 0x24)
            }

            // Context in memory, so that the per-claim code keeps few values on the stack:
            // 0x00 domain separator, 0x20 table, 0x40 n, 0x60 gross data, 0x80 log cursor (0: none),
            // 0xa0 accounts slot, 0xc0 tracks slot, 0xe0.. five words of scratch.
            function verify(digest, sig, account, s) {
                let sv := calldataload(add(sig, 0x20))
                if gt(sv, HALF_ORDER) { fail(sig) }
                mstore(s, digest)
                mstore(add(s, 0x20), byte(0, calldataload(add(sig, 0x40))))
                mstore(add(s, 0x40), calldataload(sig))
                mstore(add(s, 0x60), sv)
                mstore(0x00, 0)
                pop(staticcall(gas(), 0x01, s, 0x80, 0x00, 0x20))
                if iszero(and(eq(returndatasize(), 0x20), eq(mload(0x00), account))) { fail(sig) }
            }

            function applyTrack(q, account, ctx) -> amount {
                let index := byte(0, calldataload(q))
                if iszero(lt(index, mload(add(ctx, 0x40)))) { fail(q) }
                let provider := shr(96, calldataload(add(mload(add(ctx, 0x20)), mul(index, 20))))
                let maxCumulative := shr(128, calldataload(add(q, 1)))
                let cumulative := shr(128, calldataload(add(q, 17)))
                if gt(cumulative, maxCumulative) { fail(q) }
                let s := add(ctx, 0xe0)
                // EIP-712 digest of Voucher(account, signer = account, provider, maxCumulative).
                mstore(s, VOUCHER_TYPEHASH)
                mstore(add(s, 0x20), account)
                mstore(add(s, 0x40), account)
                mstore(add(s, 0x60), provider)
                mstore(add(s, 0x80), maxCumulative)
                let structHash := keccak256(s, 0xa0)
                mstore(s, hex"1901")
                mstore(add(s, 0x02), mload(ctx))
                mstore(add(s, 0x22), structHash)
                verify(keccak256(s, 0x42), add(q, 33), account, s)
                // _tracks[keccak256(abi.encode(account, signer, provider))]
                mstore(s, account)
                mstore(add(s, 0x20), account)
                mstore(add(s, 0x40), provider)
                mstore(0x00, keccak256(s, 0x60))
                mstore(0x20, mload(add(ctx, 0xc0)))
                let trackSlot := keccak256(0x00, 0x40)
                let claimed := sload(trackSlot)
                if lt(cumulative, claimed) { fail(q) }
                amount := sub(cumulative, claimed)
                if amount { sstore(trackSlot, cumulative) }
                let g := add(mload(add(ctx, 0x60)), shl(5, index))
                mstore(g, add(mload(g), amount))
                let cursor := mload(add(ctx, 0x80))
                if cursor {
                    mstore(cursor, or(shl(96, account), shl(88, index)))
                    mstore(add(cursor, 21), or(shl(128, amount), cumulative))
                    mstore(add(ctx, 0x80), add(cursor, 53))
                }
            }

            function applyGroup(p, end, ctx) -> next, debit, k {
                if gt(add(p, 22), end) { fail(p) }
                let head := calldataload(p)
                // Own vouchers only in this prototype (flags 0: signer == account).
                if byte(0, head) { fail(p) }
                let account := shr(96, shl(8, head))
                k := byte(21, head)
                next := add(add(p, 22), mul(k, 98))
                if gt(next, end) { fail(p) }
                mstore(0x00, account)
                mstore(0x20, mload(add(ctx, 0xa0)))
                let accountSlot := keccak256(0x00, 0x40)
                let packed := sload(accountSlot)
                // Two call sites (first track, the rest) keep applyTrack out of line: inlined, its
                // variables would crowd the stack and be moved to memory.
                let q := add(p, 22)
                if lt(q, next) {
                    debit := applyTrack(q, account, ctx)
                    for { q := add(q, 98) } lt(q, next) { q := add(q, 98) } {
                        debit := add(debit, applyTrack(q, account, ctx))
                    }
                }
                let available := and(packed, 0xffffffffffffffffffffffffffffffff)
                if gt(debit, available) { fail(p) }
                sstore(accountSlot, or(shl(128, add(shr(128, packed), debit)), sub(available, debit)))
            }

            let ctx := mload(0x40)
            mstore(ctx, separator)
            mstore(add(ctx, 0x20), add(data.offset, 1))
            mstore(add(ctx, 0x40), n)
            mstore(add(ctx, 0x60), add(gross, 0x20))
            mstore(add(ctx, 0x80), 0)
            mstore(add(ctx, 0xa0), _accounts.slot)
            mstore(add(ctx, 0xc0), _tracks.slot)
            let ctxEnd := add(ctx, 0x180)
            let p := add(add(data.offset, 1), mul(n, 20))
            let end := add(data.offset, data.length)
            if withLog {
                logHead := ctxEnd
                let c := add(logHead, 0xa0)
                calldatacopy(c, data.offset, sub(p, data.offset))
                mstore(add(ctx, 0x80), add(c, sub(p, data.offset)))
            }
            // Two call sites, as for applyTrack.
            if lt(p, end) {
                p, debited, count := applyGroup(p, end, ctx)
                for {} lt(p, end) {} {
                    let debit, k
                    p, debit, k := applyGroup(p, end, ctx)
                    debited := add(debited, debit)
                    count := add(count, k)
                }
            }
            switch withLog
            case 0 { mstore(0x40, ctxEnd) }
            default {
                let cursor := mload(add(ctx, 0x80))
                logLength := sub(cursor, add(logHead, 0xa0))
                mstore(0x40, and(add(cursor, 0x3f), not(0x1f)))
            }
        }
    }
}

/// @title (B) Commitment form: one signed commitment per (account, signer) over per-provider
/// cumulative totals.
/// @notice Voucher(address account,address signer,Entry[] entries)Entry(address provider,uint256 maxCumulative),
/// entries strictly ascending by provider (EIP-712 array hashing). The contract keeps, per track,
/// one hash of the vector of claimed totals: one word `provider(160) | claimed(96)` per provider,
/// ascending; the empty vector is 0. A claim lists, ascending by provider, every entry of the new
/// vector: a provider the commitment does not sign keeps its previous total (carried), a signed
/// one takes a new total <= the signed max and >= its previous total (or keeps its previous total,
/// even above the signed max: an older commitment signed concurrently). The previous totals it
/// lists must hash to the stored value, and no previous provider can be left out (the new vector
/// is built from the same list). So claimed totals never fall and never pass what some signature
/// allowed: form (A)'s per-provider tracks, with one signature and one stored hash for all.
///
/// Storage of the owner's own track:
///  - `packedOwnTrack`: in the account slot, the vector hash's top 192 bits | balance(64);
///  - otherwise: `_tracks[keccak256(abi.encode(account, signer))]` = the vector hash, and the
///    account slot totalClaimed(128) | balance(128) as in form (A).
///
/// Claims:
///   flags(1)=0 account(20) entryCount(1), entryCount entries, r(32) s(32) v(1)
/// Entry: tag(1) providerIndex(1) [previous(16) if tag & 2] [maxCumulative(16) newClaimed(16) if tag & 1]
///   tag 1: signed, new provider; 2: carried over, unsigned; 3: signed, had a previous total.
/// Log entry per claim: account(20) signedCount(1), then per signed entry
/// providerIndex(1) amount(16) newClaimed(16).
contract CommitmentFormSettlement is PayeeBoundSettlementBase {
    /// @dev keccak256("Voucher(address account,address signer,Entry[] entries)Entry(address provider,uint256 maxCumulative)")
    uint256 public constant VOUCHER_TYPEHASH = 0xc6a52ce7a4be01861b6ab3b93aa815fa21196eec8b35beca00e90059195ff81e;
    /// @dev keccak256("Entry(address provider,uint256 maxCumulative)")
    uint256 public constant ENTRY_TYPEHASH = 0x5957625f876483968a1896036a2fd4acc232c8abe27bc519b0dd1a40fec51c65;

    uint256 private constant LOW64 = 0xffffffffffffffff;
    uint256 private constant LOW128 = 0xffffffffffffffffffffffffffffffff;
    uint256 private constant CLAIMED_LIMIT = 0x1000000000000000000000000; // 2^96

    bool public immutable packedOwnTrack;

    constructor(address settler, uint16 feeBps_, bool emitClaimsLog_, bool packedOwnTrack_)
        PayeeBoundSettlementBase(settler, feeBps_, emitClaimsLog_)
    {
        require(
            bytes32(VOUCHER_TYPEHASH)
                == keccak256(
                    "Voucher(address account,address signer,Entry[] entries)Entry(address provider,uint256 maxCumulative)"
                )
        );
        require(bytes32(ENTRY_TYPEHASH) == keccak256("Entry(address provider,uint256 maxCumulative)"));
        packedOwnTrack = packedOwnTrack_;
    }

    function fund(address account, uint256 amount) external override {
        uint256 packed = _accounts[account];
        if (packedOwnTrack) {
            uint256 balance = (packed & LOW64) + amount;
            require(balance <= LOW64, "balance above 64 bits");
            _accounts[account] = (packed & ~LOW64) | balance;
        } else {
            _accounts[account] = packed + amount;
        }
    }

    function balanceOf(address account) external view returns (uint256) {
        uint256 packed = _accounts[account];
        return packedOwnTrack ? packed & LOW64 : packed & LOW128;
    }

    /// @notice What the contract stores for an own track's claimed vector (its top 192 bits when packed).
    function vectorHashOf(address account) external view returns (bytes32) {
        if (packedOwnTrack) return bytes32(_accounts[account] & ~LOW64);
        return bytes32(_tracks[keccak256(abi.encode(account, account))]);
    }

    function _applyClaims(bytes calldata data, uint256 n, uint256[] memory gross)
        internal
        override
        returns (uint256 debited, uint256 count, uint256 logHead, uint256 logLength)
    {
        bytes32 separator = _domainSeparatorV4();
        bool withLog = emitClaimsLog;
        bool packedOwn = packedOwnTrack;
        assembly ("memory-safe") {
            function fail(at) {
                mstore(0x00, 0xec23f45a) // BadClaim(uint256)
                mstore(0x20, at)
                revert(0x1c, 0x24)
            }

            // Context in memory: 0x00 domain separator, 0x20 table, 0x40 n, 0x60 gross data,
            // 0x80 log cursor (0: none), 0xa0 accounts slot, 0xc0 tracks slot, 0xe0 packed flag,
            // 0x100 entry-hash region, 0x120 previous-vector region, 0x140 new-vector region;
            // per claim: 0x160 next allowed provider index, 0x180 previous count, 0x1a0 signed
            // count; 0x1c0.. four words of scratch; then the three regions of n words each (a list
            // holds at most n entries: its provider indexes are strictly ascending).
            function verify(digest, sig, account, s) {
                let sv := calldataload(add(sig, 0x20))
                if gt(sv, HALF_ORDER) { fail(sig) }
                mstore(s, digest)
                mstore(add(s, 0x20), byte(0, calldataload(add(sig, 0x40))))
                mstore(add(s, 0x40), calldataload(sig))
                mstore(add(s, 0x60), sv)
                mstore(0x00, 0)
                pop(staticcall(gas(), 0x01, s, 0x80, 0x00, 0x20))
                if iszero(and(eq(returndatasize(), 0x20), eq(mload(0x00), account))) { fail(sig) }
            }

            // Entry i of a claim, at q. Appends to the previous vector (if it had a total), hashes
            // a signed entry as an EIP-712 Entry and credits the provider's gross, and writes word
            // i of the new vector. Returns where the next entry starts and what this one debits.
            function applyEntry(q, i, ctx) -> next, amount {
                let head := calldataload(q)
                let tag := byte(0, head)
                let index := byte(1, head)
                if or(
                    or(lt(index, mload(add(ctx, 0x160))), iszero(lt(index, mload(add(ctx, 0x40))))),
                    or(iszero(tag), gt(tag, 3))
                ) { fail(q) }
                mstore(add(ctx, 0x160), add(index, 1))
                let provider := shr(96, calldataload(add(mload(add(ctx, 0x20)), mul(index, 20))))
                next := add(q, 2)
                let claimed := 0
                if and(tag, 2) {
                    claimed := shr(128, calldataload(next))
                    if iszero(lt(claimed, CLAIMED_LIMIT)) { fail(q) }
                    let k := mload(add(ctx, 0x180))
                    mstore(add(mload(add(ctx, 0x120)), shl(5, k)), or(shl(96, provider), claimed))
                    mstore(add(ctx, 0x180), add(k, 1))
                    next := add(next, 16)
                }
                if and(tag, 1) {
                    let maxCumulative := shr(128, calldataload(next))
                    let newClaimed := shr(128, calldataload(add(next, 16)))
                    // Leaving a total unchanged is always allowed, even above an older commitment's
                    // max (two commitments signed concurrently can then both be claimed).
                    if or(
                        and(gt(newClaimed, maxCumulative), iszero(eq(newClaimed, claimed))),
                        or(lt(newClaimed, claimed), iszero(lt(newClaimed, CLAIMED_LIMIT)))
                    ) { fail(q) }
                    let s := add(ctx, 0x1c0)
                    mstore(s, ENTRY_TYPEHASH)
                    mstore(add(s, 0x20), provider)
                    mstore(add(s, 0x40), maxCumulative)
                    let k := mload(add(ctx, 0x1a0))
                    mstore(add(mload(add(ctx, 0x100)), shl(5, k)), keccak256(s, 0x60))
                    mstore(add(ctx, 0x1a0), add(k, 1))
                    amount := sub(newClaimed, claimed)
                    let g := add(mload(add(ctx, 0x60)), shl(5, index))
                    mstore(g, add(mload(g), amount))
                    let cursor := mload(add(ctx, 0x80))
                    if cursor {
                        mstore(cursor, shl(248, index))
                        mstore(add(cursor, 1), or(shl(128, amount), newClaimed))
                        mstore(add(ctx, 0x80), add(cursor, 33))
                    }
                    claimed := newClaimed
                    next := add(next, 32)
                }
                mstore(add(mload(add(ctx, 0x140)), shl(5, i)), or(shl(96, provider), claimed))
            }

            // Checks the previous vector against the stored hash, stores the new one, debits.
            function settleTrack(account, previousHash, newHash, debit, ctx, at) {
                mstore(0x00, account)
                mstore(0x20, mload(add(ctx, 0xa0)))
                let accountSlot := keccak256(0x00, 0x40)
                let packed := sload(accountSlot)
                switch mload(add(ctx, 0xe0))
                case 0 {
                    // _tracks[keccak256(abi.encode(account, signer))] holds the full hash.
                    mstore(0x00, account)
                    mstore(0x20, account)
                    mstore(0x00, keccak256(0x00, 0x40))
                    mstore(0x20, mload(add(ctx, 0xc0)))
                    let trackSlot := keccak256(0x00, 0x40)
                    if iszero(eq(sload(trackSlot), previousHash)) { fail(at) }
                    sstore(trackSlot, newHash)
                    let available := and(packed, LOW128)
                    if gt(debit, available) { fail(at) }
                    sstore(accountSlot, or(shl(128, add(shr(128, packed), debit)), sub(available, debit)))
                }
                default {
                    // The account slot holds the hash's top 192 bits over a 64-bit balance.
                    if iszero(eq(and(packed, not(LOW64)), and(previousHash, not(LOW64)))) { fail(at) }
                    let available := and(packed, LOW64)
                    if gt(debit, available) { fail(at) }
                    sstore(accountSlot, or(and(newHash, not(LOW64)), sub(available, debit)))
                }
            }

            function applyCommitment(p, end, ctx) -> next, debit {
                if gt(add(p, 22), end) { fail(p) }
                let head := calldataload(p)
                // Own commitments only in this prototype (flags 0: signer == account).
                if byte(0, head) { fail(p) }
                let account := shr(96, shl(8, head))
                let entries := byte(21, head)
                let logAt := mload(add(ctx, 0x80))
                if logAt {
                    mstore(logAt, shl(96, account))
                    mstore(add(ctx, 0x80), add(logAt, 21))
                }
                mstore(add(ctx, 0x160), 0)
                mstore(add(ctx, 0x180), 0)
                mstore(add(ctx, 0x1a0), 0)
                // Two call sites (first entry, the rest) keep applyEntry out of line: inlined, its
                // variables would crowd the stack and be moved to memory.
                next := add(p, 22)
                if entries {
                    next, debit := applyEntry(next, 0, ctx)
                    for { let i := 1 } lt(i, entries) { i := add(i, 1) } {
                        let amount
                        next, amount := applyEntry(next, i, ctx)
                        debit := add(debit, amount)
                    }
                }
                let sig := next
                next := add(sig, 65)
                let signedCount := mload(add(ctx, 0x1a0))
                if or(gt(next, end), iszero(signedCount)) { fail(p) }
                if logAt { mstore8(add(logAt, 20), signedCount) }
                // The signature over Voucher(account, signer = account, entries).
                let s := add(ctx, 0x1c0)
                mstore(s, VOUCHER_TYPEHASH)
                mstore(add(s, 0x20), account)
                mstore(add(s, 0x40), account)
                mstore(add(s, 0x60), keccak256(mload(add(ctx, 0x100)), shl(5, signedCount)))
                let structHash := keccak256(s, 0x80)
                mstore(s, hex"1901")
                mstore(add(s, 0x02), mload(ctx))
                mstore(add(s, 0x22), structHash)
                verify(keccak256(s, 0x42), sig, account, s)
                let previousCount := mload(add(ctx, 0x180))
                let previousHash := 0
                if previousCount { previousHash := keccak256(mload(add(ctx, 0x120)), shl(5, previousCount)) }
                settleTrack(account, previousHash, keccak256(mload(add(ctx, 0x140)), shl(5, entries)), debit, ctx, p)
            }

            let ctx := mload(0x40)
            let regions := add(ctx, 0x240)
            mstore(ctx, separator)
            mstore(add(ctx, 0x20), add(data.offset, 1))
            mstore(add(ctx, 0x40), n)
            mstore(add(ctx, 0x60), add(gross, 0x20))
            mstore(add(ctx, 0x80), 0)
            mstore(add(ctx, 0xa0), _accounts.slot)
            mstore(add(ctx, 0xc0), _tracks.slot)
            mstore(add(ctx, 0xe0), packedOwn)
            mstore(add(ctx, 0x100), regions)
            mstore(add(ctx, 0x120), add(regions, shl(5, n)))
            mstore(add(ctx, 0x140), add(regions, shl(6, n)))
            let ctxEnd := add(regions, mul(n, 0x60))
            let p := add(add(data.offset, 1), mul(n, 20))
            let end := add(data.offset, data.length)
            if withLog {
                logHead := ctxEnd
                let c := add(logHead, 0xa0)
                calldatacopy(c, data.offset, sub(p, data.offset))
                mstore(add(ctx, 0x80), add(c, sub(p, data.offset)))
            }
            // Two call sites, as for applyEntry.
            if lt(p, end) {
                p, debited := applyCommitment(p, end, ctx)
                count := 1
                for {} lt(p, end) {} {
                    let debit
                    p, debit := applyCommitment(p, end, ctx)
                    debited := add(debited, debit)
                    count := add(count, 1)
                }
            }
            switch withLog
            case 0 { mstore(0x40, ctxEnd) }
            default {
                let cursor := mload(add(ctx, 0x80))
                logLength := sub(cursor, add(logHead, 0xa0))
                mstore(0x40, and(add(cursor, 0x3f), not(0x1f)))
            }
        }
    }
}
