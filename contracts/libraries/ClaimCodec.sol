// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IAgentTabEscrow} from "../interfaces/IAgentTabEscrow.sol";

/// @title Packed encoding of settlement claims.
/// @notice A batch carries hundreds of claims, and ABI encoding would spend about a third of each
/// claim's gas on padding and offsets. So claims travel packed, back to back:
///
///   flags(1) account(20) [signer(20) when flags & FLAG_DELEGATE] providerIndex(2)
///   maxCumulative(16) cumulative(16) sigLen(2) sig(sigLen)
///
/// `flags == 0`: the account signed its own voucher. `FLAG_DELEGATE`: `signer` is a delegate of
/// the account. Other bits are reserved and rejected. `providerIndex` points into the batch's
/// provider reports: the provider the voucher must name, and the one the claim pays. The SDK's
/// `encodeClaims` is the TypeScript twin of this layout, and `decodeClaimsLog` reads the entries
/// {BatchSettled} emits:
///
///   flags(1) account(20) [signer(20) when flags & FLAG_DELEGATE] provider(20) amount(16) cumulative(16)
library ClaimCodec {
    uint256 internal constant FLAG_DELEGATE = 1;

    /// @dev flags + account + providerIndex + maxCumulative + cumulative + sigLen.
    uint256 internal constant MIN_CLAIM_LENGTH = 1 + 20 + 2 + 16 + 16 + 2;

    /// @dev A log entry is this much longer than the claim it records, less its signature:
    /// provider(20) replaces providerIndex(2) + sigLen(2), and amount(16) replaces maxCumulative(16).
    uint256 internal constant LOG_GROWTH = 20 - 2 - 2;

    /// @notice One claim as read from calldata.
    struct Claim {
        uint256 flags;
        address account;
        address signer;
        uint256 providerIndex;
        uint256 maxCumulative;
        uint256 cumulative;
    }

    /// @notice Reads the claim starting at `offset` in `data` into `claim` (a buffer the caller
    /// reuses, so reading allocates nothing), slicing its signature from `data`.
    /// @return signature The signature bytes.
    /// @return next The offset of the following claim.
    function read(bytes calldata data, uint256 offset, Claim memory claim)
        internal
        pure
        returns (bytes calldata signature, uint256 next)
    {
        uint256 length = data.length;
        if (length < offset + MIN_CLAIM_LENGTH) revert IAgentTabEscrow.MalformedClaim(offset);
        uint256 flags;
        uint256 cursor;
        uint256 sigLength;
        assembly ("memory-safe") {
            let p := add(data.offset, offset)
            flags := byte(0, calldataload(p))
            let account := shr(96, calldataload(add(p, 1)))
            let signer := account
            p := add(p, 21)
            if eq(flags, FLAG_DELEGATE) {
                signer := shr(96, calldataload(p))
                p := add(p, 20)
            }
            mstore(claim, flags)
            mstore(add(claim, 0x20), account)
            mstore(add(claim, 0x40), signer)
            mstore(add(claim, 0x60), shr(240, calldataload(p)))
            mstore(add(claim, 0x80), shr(128, calldataload(add(p, 2))))
            mstore(add(claim, 0xa0), shr(128, calldataload(add(p, 18))))
            sigLength := shr(240, calldataload(add(p, 34)))
            cursor := sub(add(p, 36), data.offset)
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
