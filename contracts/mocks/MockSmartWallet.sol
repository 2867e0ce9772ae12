// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC1271} from "@openzeppelin/contracts/interfaces/IERC1271.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";

/// @title A minimal ERC-1271 smart-contract wallet for tests and local demos.
/// @notice Valid signatures are its owner's ECDSA signatures over the digest. With `lying` set it
/// approves every signature, which is what a hostile wallet could do: the escrow must still never
/// let it claim beyond its own account or a delegate's cap.
contract MockSmartWallet is IERC1271 {
    error NotOwner(address caller);
    error CallFailed(bytes reason);

    address public immutable owner;
    bool public lying;

    constructor(address owner_) {
        owner = owner_;
    }

    function setLying(bool lying_) external {
        if (msg.sender != owner) revert NotOwner(msg.sender);
        lying = lying_;
    }

    /// @notice Lets the owner act as the wallet (approve, deposit, authorize delegates, ...).
    function execute(address target, bytes calldata data) external returns (bytes memory result) {
        if (msg.sender != owner) revert NotOwner(msg.sender);
        bool ok;
        (ok, result) = target.call(data);
        if (!ok) revert CallFailed(result);
    }

    function isValidSignature(bytes32 hash, bytes calldata signature) external view returns (bytes4) {
        if (lying) return IERC1271.isValidSignature.selector;
        (address recovered, ECDSA.RecoverError err,) = ECDSA.tryRecoverCalldata(hash, signature);
        if (err == ECDSA.RecoverError.NoError && recovered == owner) return IERC1271.isValidSignature.selector;
        return 0xffffffff;
    }
}
