// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title EIP-712 struct hashes the escrow verifies.
/// @notice The one Solidity source of these type strings; the SDK's typed data must produce the same
/// hashes (checked by test/solidity/TypedDataParity.t.sol with vectors signed by viem).
library VoucherHash {
    /// @dev An agent (or its delegate) lets the platform claim up to `maxCumulative` in total.
    bytes32 internal constant VOUCHER_TYPEHASH = keccak256("Voucher(address account,uint256 maxCumulative)");

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

    /// @notice The struct hash of a voucher.
    function hashVoucher(address account, uint256 maxCumulative) internal pure returns (bytes32 digest) {
        // keccak256(abi.encode(VOUCHER_TYPEHASH, account, maxCumulative)) without the memory
        // allocation: this runs once per claim in `settle`.
        bytes32 typeHash = VOUCHER_TYPEHASH;
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore(ptr, typeHash)
            mstore(add(ptr, 0x20), and(account, 0xffffffffffffffffffffffffffffffffffffffff))
            mstore(add(ptr, 0x40), maxCumulative)
            digest := keccak256(ptr, 0x60)
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
}
