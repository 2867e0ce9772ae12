// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Vm, vm} from "./Vm.sol";

/// @title Assertions and fuzzing helpers for Hardhat's Solidity test runner.
/// @notice A test fails when it reverts; these helpers revert with a message saying what differed.
abstract contract TestBase {
    error AssertionFailed(string message);

    function fail(string memory message) internal pure {
        revert AssertionFailed(message);
    }

    function assertTrue(bool condition, string memory message) internal pure {
        if (!condition) fail(message);
    }

    function assertFalse(bool condition, string memory message) internal pure {
        if (condition) fail(message);
    }

    function assertEq(uint256 actual, uint256 expected, string memory message) internal pure {
        if (actual != expected) {
            fail(string.concat(message, ": expected ", vm.toString(expected), ", got ", vm.toString(actual)));
        }
    }

    function assertEq(address actual, address expected, string memory message) internal pure {
        if (actual != expected) {
            fail(string.concat(message, ": expected ", vm.toString(expected), ", got ", vm.toString(actual)));
        }
    }

    function assertEq(bytes32 actual, bytes32 expected, string memory message) internal pure {
        if (actual != expected) {
            fail(string.concat(message, ": expected ", vm.toString(expected), ", got ", vm.toString(actual)));
        }
    }

    function assertEq(bytes memory actual, bytes memory expected, string memory message) internal pure {
        if (keccak256(actual) != keccak256(expected)) fail(string.concat(message, ": bytes differ"));
    }

    function assertLe(uint256 actual, uint256 bound_, string memory message) internal pure {
        if (actual > bound_) {
            fail(string.concat(message, ": ", vm.toString(actual), " > ", vm.toString(bound_)));
        }
    }

    function assertGe(uint256 actual, uint256 bound_, string memory message) internal pure {
        if (actual < bound_) {
            fail(string.concat(message, ": ", vm.toString(actual), " < ", vm.toString(bound_)));
        }
    }

    /// @dev Maps any `x` into [min, max] without discarding runs (unlike `vm.assume`).
    function bound(uint256 x, uint256 min, uint256 max) internal pure returns (uint256) {
        if (min > max) fail("bound: min > max");
        if (x >= min && x <= max) return x;
        uint256 size = max - min;
        if (size == type(uint256).max) return x;
        return min + (x % (size + 1));
    }
}
