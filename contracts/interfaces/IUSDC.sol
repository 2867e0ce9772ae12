// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";

/// @title The parts of Circle's FiatToken v2.2 (USDC on Base) that the escrow uses.
/// @notice EIP-3009 authorizations in their `bytes signature` form, which also accepts ERC-1271
/// signatures from smart-contract wallets, plus EIP-2612 permit.
interface IUSDC is IERC20, IERC20Permit {
    /// @notice Executes a signed transfer; anyone may submit it.
    function transferWithAuthorization(
        address from,
        address to,
        uint256 value,
        uint256 validAfter,
        uint256 validBefore,
        bytes32 nonce,
        bytes memory signature
    ) external;

    /// @notice Executes a signed transfer; only `to` may submit it, which prevents front-running.
    function receiveWithAuthorization(
        address from,
        address to,
        uint256 value,
        uint256 validAfter,
        uint256 validBefore,
        bytes32 nonce,
        bytes memory signature
    ) external;

    /// @notice Whether `nonce` of `authorizer` has been used or cancelled.
    function authorizationState(address authorizer, bytes32 nonce) external view returns (bool);
}
