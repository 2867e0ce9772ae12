// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IAgentTabEscrow} from "../interfaces/IAgentTabEscrow.sol";

/// @title Packed encoding of settlement claims.
/// @notice A batch carries hundreds of claims, and ABI encoding would spend about a third of each
/// claim's gas on padding and offsets. So claims travel packed, back to back:
///
///   flags(1) account(20) [signer(20) when flags & FLAG_DELEGATE] maxCumulative(16) cumulative(16)
///   sigLen(2) sig(sigLen)
///
/// `flags == 0`: the account signed its own voucher. `FLAG_DELEGATE`: `signer` is a delegate of
/// the account. Other bits are reserved and rejected. The SDK's `encodeClaims` is the TypeScript
/// twin of this layout, and `decodeClaimsLog` reads the entries {BatchSettled} emits:
///
///   flags(1) account(20) [signer(20) when flags & FLAG_DELEGATE] amount(16) cumulative(16)
library ClaimCodec {
    uint256 internal constant FLAG_DELEGATE = 1;

    /// @dev flags + account + maxCumulative + cumulative + sigLen.
    uint256 internal constant MIN_CLAIM_LENGTH = 1 + 20 + 16 + 16 + 2;

    /// @notice Reads the claim starting at `offset` in `data`, without allocating memory.
    /// @return flags 0 for the account's own voucher, FLAG_DELEGATE for a delegate's.
    /// @return account The account debited.
    /// @return signer Who signed the voucher (`account` unless delegated).
    /// @return maxCumulative The voucher's signed maximum.
    /// @return cumulative The new claimed total on the signer's track.
    /// @return signature The signature bytes, sliced from `data`.
    /// @return next The offset of the following claim.
    function read(bytes calldata data, uint256 offset)
        internal
        pure
        returns (
            uint256 flags,
            address account,
            address signer,
            uint256 maxCumulative,
            uint256 cumulative,
            bytes calldata signature,
            uint256 next
        )
    {
        uint256 length = data.length;
        if (length < offset + MIN_CLAIM_LENGTH) revert IAgentTabEscrow.MalformedClaim(offset);
        uint256 cursor;
        uint256 sigLength;
        assembly ("memory-safe") {
            let p := add(data.offset, offset)
            flags := byte(0, calldataload(p))
            account := shr(96, calldataload(add(p, 1)))
            signer := account
            p := add(p, 21)
            if eq(flags, FLAG_DELEGATE) {
                signer := shr(96, calldataload(p))
                p := add(p, 20)
            }
            maxCumulative := shr(128, calldataload(p))
            cumulative := shr(128, calldataload(add(p, 16)))
            sigLength := shr(240, calldataload(add(p, 32)))
            cursor := sub(add(p, 34), data.offset)
        }
        if (flags > FLAG_DELEGATE) revert IAgentTabEscrow.MalformedClaim(offset);
        next = cursor + sigLength;
        // Also catches a delegate claim whose signer runs past the end (cursor then exceeds length).
        if (length < next) revert IAgentTabEscrow.MalformedClaim(offset);
        assembly ("memory-safe") {
            signature.offset := add(data.offset, cursor)
            signature.length := sigLength
        }
    }
}
