// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IAgentTabEscrow} from "../../contracts/interfaces/IAgentTabEscrow.sol";
import {EscrowTestBase} from "./base/EscrowTestBase.sol";
import {vm} from "./base/Vm.sol";

contract AuthorizeDelegateTest is EscrowTestBase {
    function test_authorizeDelegate_storesCapAndExpiry() public {
        vm.expectEmit(true, true, false, true, address(escrow));
        emit IAgentTabEscrow.DelegateAuthorized(alice, hot, 5e6, 2_000_000_000);
        vm.prank(alice);
        escrow.authorizeDelegate(hot, 5e6, 2_000_000_000);
        IAgentTabEscrow.Delegation memory d = escrow.delegationOf(alice, hot);
        assertEq(d.cap, 5e6, "cap");
        assertEq(d.expiresAt, 2_000_000_000, "expiry");
        assertTrue(d.active, "active");
        assertEq(d.claimed, 0, "claimed");
    }

    function test_authorizeDelegate_updateKeepsClaimed() public {
        _fund(alice, 10e6);
        vm.prank(alice);
        escrow.authorizeDelegate(hot, 5e6, 0);
        _settle("b1", _delegateClaim(alice, HOT_KEY, 2e6, 2e6));
        vm.prank(alice);
        escrow.authorizeDelegate(hot, 8e6, 0);
        assertEq(escrow.delegationOf(alice, hot).claimed, 2e6, "claimed survives a cap change");
        assertEq(escrow.delegationOf(alice, hot).cap, 8e6, "new cap");
    }

    function test_authorizeDelegate_lowerCapBindsClaimsOnlyAfterTheGrace() public {
        _fund(alice, 10e6);
        vm.prank(alice);
        escrow.authorizeDelegate(hot, 5e6, 0);
        bytes memory claim = _delegateClaim(alice, HOT_KEY, 4e6, 4e6); // spent 4 USDC under the 5 cap
        vm.prank(alice);
        escrow.authorizeDelegate(hot, 1e6, 0); // then the owner lowers the cap below it
        assertEq(escrow.delegationOf(alice, hot).cap, 1e6, "new spending is held to the new cap");
        assertEq(escrow.delegateClaimLimit(alice, hot).cap, 5e6, "claims still to the old one");
        vm.warp(block.timestamp + WITHDRAWAL_DELAY - 1);
        _settle("b1", claim);
        assertEq(escrow.delegationOf(alice, hot).claimed, 4e6, "claimed in full");
    }

    function test_authorizeDelegate_lowerCapBindsAfterTheGrace() public {
        _fund(alice, 10e6);
        vm.prank(alice);
        escrow.authorizeDelegate(hot, 5e6, 0);
        bytes memory claim = _delegateClaim(alice, HOT_KEY, 4e6, 4e6);
        vm.prank(alice);
        escrow.authorizeDelegate(hot, 1e6, 0);
        vm.warp(block.timestamp + WITHDRAWAL_DELAY);
        assertEq(escrow.delegateClaimLimit(alice, hot).cap, 1e6, "grace over");
        _settleExpectRevert(claim, abi.encodeWithSelector(IAgentTabEscrow.ClaimAboveDelegateCap.selector, alice, hot, 1e6, 4e6));
    }

    function test_authorizeDelegate_revertsOnExpiryInThePast() public {
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IAgentTabEscrow.ExpiryInPast.selector, uint256(block.timestamp)));
        escrow.authorizeDelegate(hot, 5e6, uint40(block.timestamp));
    }

    function test_authorizeDelegate_revertsOnSelf() public {
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IAgentTabEscrow.InvalidDelegate.selector, alice));
        escrow.authorizeDelegate(alice, 1, 0);
    }

    function test_authorizeDelegate_revertsOnZero() public {
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IAgentTabEscrow.InvalidDelegate.selector, address(0)));
        escrow.authorizeDelegate(address(0), 1, 0);
    }
}
