// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IAgentTabReputation} from "../interfaces/IAgentTabReputation.sol";

/// @title EIP-712 struct hashes the escrow and the reputation contract verify.
/// @notice The one Solidity source of these type strings; the SDK's typed data must produce the same
/// hashes (checked by test/solidity/TypedDataParity.t.sol with vectors signed by viem).
library VoucherHash {
    /// @dev `signer` (the account itself or one of its delegates) lets `provider` be paid from
    /// `account` up to `maxCumulative` in total on that (account, signer, provider) track.
    bytes32 internal constant VOUCHER_TYPEHASH =
        keccak256("Voucher(address account,address signer,address provider,uint256 maxCumulative)");

    /// @dev USDC's EIP-3009 transfer authorization, as the x402 `exact` scheme signs it.
    bytes32 internal constant TRANSFER_WITH_AUTHORIZATION_TYPEHASH = keccak256(
        "TransferWithAuthorization(address from,address to,uint256 value,uint256 validAfter,uint256 validBefore,bytes32 nonce)"
    );

    /// @dev USDC's EIP-3009 receive authorization (only `to` may submit it).
    bytes32 internal constant RECEIVE_WITH_AUTHORIZATION_TYPEHASH = keccak256(
        "ReceiveWithAuthorization(address from,address to,uint256 value,uint256 validAfter,uint256 validBefore,bytes32 nonce)"
    );

    /// @dev EIP-2612 permit.
    bytes32 internal constant PERMIT_TYPEHASH =
        keccak256("Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)");

    /// @dev The proxy's receipt for a paid call (see {IAgentTabReputation-Receipt}).
    bytes32 internal constant RECEIPT_TYPEHASH = keccak256(
        "Receipt(bytes32 requestId,bytes32 serviceId,address provider,address payer,uint256 amount,uint256 cumulative,uint64 issuedAt)"
    );

    /// @dev A payer's feedback on a call, relayed by someone else. `tags` is hashed as EIP-712
    /// hashes a `string[]`: keccak256 of the concatenated keccak256 of each tag.
    bytes32 internal constant FEEDBACK_TYPEHASH =
        keccak256("Feedback(bytes32 requestId,uint8 score,string[] tags,uint256 deadline)");

    /// @notice The struct hash of a voucher.
    function hashVoucher(address account, address signer, address provider, uint256 maxCumulative)
        internal
        pure
        returns (bytes32 digest)
    {
        // keccak256(abi.encode(VOUCHER_TYPEHASH, account, signer, provider, maxCumulative)) without
        // the memory allocation: this runs once per claim in `settle`.
        bytes32 typeHash = VOUCHER_TYPEHASH;
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore(ptr, typeHash)
            mstore(add(ptr, 0x20), and(account, 0xffffffffffffffffffffffffffffffffffffffff))
            mstore(add(ptr, 0x40), and(signer, 0xffffffffffffffffffffffffffffffffffffffff))
            mstore(add(ptr, 0x60), and(provider, 0xffffffffffffffffffffffffffffffffffffffff))
            mstore(add(ptr, 0x80), maxCumulative)
            digest := keccak256(ptr, 0xa0)
        }
    }

    /// @notice The EIP-712 digest of `structHash` under `domainSeparator`, hashed in scratch space
    /// (the settle loop computes one per claim with a domain separator it reads once).
    function toTypedDataHash(bytes32 domainSeparator, bytes32 structHash) internal pure returns (bytes32 digest) {
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore(ptr, hex"1901")
            mstore(add(ptr, 0x02), domainSeparator)
            mstore(add(ptr, 0x22), structHash)
            digest := keccak256(ptr, 0x42)
        }
    }

    /// @notice The struct hash of an EIP-3009 authorization of type `typeHash`.
    function hashAuthorization(
        bytes32 typeHash,
        address from,
        address to,
        uint256 value,
        uint256 validAfter,
        uint256 validBefore,
        bytes32 nonce
    ) internal pure returns (bytes32) {
        return keccak256(abi.encode(typeHash, from, to, value, validAfter, validBefore, nonce));
    }

    /// @notice The struct hash of an EIP-2612 permit.
    function hashPermit(address owner, address spender, uint256 value, uint256 nonce, uint256 deadline)
        internal
        pure
        returns (bytes32)
    {
        return keccak256(abi.encode(PERMIT_TYPEHASH, owner, spender, value, nonce, deadline));
    }

    /// @notice The struct hash of a receipt.
    function hashReceipt(IAgentTabReputation.Receipt calldata receipt) internal pure returns (bytes32) {
        return keccak256(
            abi.encode(
                RECEIPT_TYPEHASH,
                receipt.requestId,
                receipt.serviceId,
                receipt.provider,
                receipt.payer,
                receipt.amount,
                receipt.cumulative,
                receipt.issuedAt
            )
        );
    }

    /// @notice The struct hash of a payer's relayed feedback.
    function hashFeedback(bytes32 requestId, uint8 score, string[] calldata tags, uint256 deadline)
        internal
        pure
        returns (bytes32)
    {
        bytes32[] memory tagHashes = new bytes32[](tags.length);
        for (uint256 i; i < tags.length; ++i) {
            tagHashes[i] = keccak256(bytes(tags[i]));
        }
        return keccak256(abi.encode(FEEDBACK_TYPEHASH, requestId, score, keccak256(abi.encodePacked(tagHashes)), deadline));
    }
}
