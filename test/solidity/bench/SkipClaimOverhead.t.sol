// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {TestBase} from "../base/TestBase.sol";
import {vm} from "../base/Vm.sol";

/// @notice The work of one claim as the escrow does it: recover a signature over a digest, check
/// a cumulative against a stored total, write it. Applied inline, or through an external
/// self-call that a failing claim could be caught from (`try this.applyOne(...)`).
contract ClaimApplier {
    mapping(address signer => uint256) public claimed;
    uint256 public applied;

    function applyInline(bytes[] calldata claims) external {
        for (uint256 i = 0; i < claims.length; i++) {
            _apply(claims[i]);
        }
    }

    function applySkippingFailures(bytes[] calldata claims) external {
        for (uint256 i = 0; i < claims.length; i++) {
            try this.applyOne(claims[i]) {} catch {}
        }
    }

    function applyOne(bytes calldata claim) external {
        if (msg.sender != address(this)) revert();
        _apply(claim);
    }

    function _apply(bytes calldata claim) private {
        (bytes32 digest, uint256 cumulative, uint8 v, bytes32 r, bytes32 s) = abi.decode(claim, (bytes32, uint256, uint8, bytes32, bytes32));
        address signer = ecrecover(digest, v, r, s);
        if (signer == address(0) || cumulative < claimed[signer]) revert();
        claimed[signer] = cumulative;
        applied++;
    }
}

/// @notice Measures what letting the escrow skip a failing claim itself would cost (issue 14):
/// the same ten claims applied inline and through a catchable self-call each. The difference of
/// the two tests' entries in .gas-snapshot, divided by ten, is the per-claim price of the skip.
contract SkipClaimOverheadTest is TestBase {
    uint256 internal constant CLAIMS = 10;
    ClaimApplier internal direct;
    ClaimApplier internal skipping;
    bytes[] internal claims;

    function setUp() public {
        direct = new ClaimApplier();
        skipping = new ClaimApplier();
        for (uint256 i = 0; i < CLAIMS; i++) {
            bytes32 digest = keccak256(abi.encode("voucher", i));
            (uint8 v, bytes32 r, bytes32 s) = vm.sign(i + 1, digest);
            claims.push(abi.encode(digest, 1e6 + i, v, r, s));
        }
    }

    function test_skipOverhead_inline() public {
        direct.applyInline(claims);
        assertEq(direct.applied(), CLAIMS, "all applied");
    }

    function test_skipOverhead_selfCallPerClaim() public {
        skipping.applySkippingFailures(claims);
        assertEq(skipping.applied(), CLAIMS, "all applied");
    }
}
