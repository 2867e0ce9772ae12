// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IAgentTabEscrow} from "../../contracts/interfaces/IAgentTabEscrow.sol";
import {EscrowTestBase} from "./base/EscrowTestBase.sol";
import {vm} from "./base/Vm.sol";

contract RevokeDelegateTest is EscrowTestBase {
    function test_revokeDelegate_keepsWhatItSpentClaimableForTheGrace() public {
        _fund(alice, 10e6);
        vm.prank(alice);
        escrow.authorizeDelegate(hot, 5e6, 0);
        bytes memory claim = _delegateClaim(alice, HOT_KEY, 1e6, 1e6);
        vm.expectEmit(true, true, false, true, address(escrow));
        emit IAgentTabEscrow.DelegateRevoked(alice, hot);
        vm.prank(alice);
        escrow.revokeDelegate(hot);
        assertFalse(escrow.delegationOf(alice, hot).active, "inactive");
        IAgentTabEscrow.DelegateClaimLimit memory limit = escrow.delegateClaimLimit(alice, hot);
        assertEq(limit.until, block.timestamp + WITHDRAWAL_DELAY, "claimable for the grace");
        assertEq(limit.cap, 5e6, "at the cap it had");
        vm.warp(block.timestamp + WITHDRAWAL_DELAY - 1);
        _settle("b1", claim);
        assertEq(escrow.delegationOf(alice, hot).claimed, 1e6, "the revoked delegate's spending reached the provider");
    }

    function test_revokeDelegate_stopsClaimsAfterTheGrace() public {
        _fund(alice, 10e6);
        vm.prank(alice);
        escrow.authorizeDelegate(hot, 5e6, 0);
        bytes memory claim = _delegateClaim(alice, HOT_KEY, 1e6, 1e6);
        vm.prank(alice);
        escrow.revokeDelegate(hot);
        vm.warp(block.timestamp + WITHDRAWAL_DELAY);
        _settleExpectRevert(claim, abi.encodeWithSelector(IAgentTabEscrow.DelegateNotActive.selector, alice, hot));
    }

    function test_revokeDelegate_thenAWithdrawal_stillPaysTheProviderFirst() public {
        // The attack of issue 13: spend through a delegate, revoke it, withdraw everything.
        _fund(alice, 1e6);
        vm.prank(alice);
        escrow.authorizeDelegate(hot, 1e6, 0);
        bytes memory claim = _delegateClaim(alice, HOT_KEY, 2e5, 2e5); // what the proxy charged
        vm.startPrank(alice);
        escrow.revokeDelegate(hot);
        escrow.requestWithdrawal(1e6);
        vm.stopPrank();
        // The watchtower claims before the unlock: the revocation no longer stops it.
        _settle("b1", claim);
        vm.warp(block.timestamp + WITHDRAWAL_DELAY);
        vm.prank(alice);
        assertEq(escrow.finalizeWithdrawal(), 8e5, "the owner gets back only what was not spent");
        (uint256 share,) = _split(2e5);
        assertEq(escrow.earningsOf(provider1), share, "the provider was paid");
        _assertSolvent();
    }

    function test_revokeDelegate_revertsWhenNotActive() public {
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IAgentTabEscrow.DelegateNotActive.selector, alice, hot));
        escrow.revokeDelegate(hot);
    }

    function test_revokeDelegate_onlyAffectsCallersAccount() public {
        vm.prank(alice);
        escrow.authorizeDelegate(hot, 5e6, 0);
        vm.prank(bob);
        escrow.authorizeDelegate(hot, 5e6, 0);
        vm.prank(bob);
        escrow.revokeDelegate(hot);
        assertTrue(escrow.delegationOf(alice, hot).active, "alice's delegation untouched");
    }

    /// @dev Whatever the owner does after a delegate spent (revoke, lower the cap, both, re-authorize
    /// lower), a claim of what it spent succeeds at any time within the grace.
    function testFuzz_ownerNeverUnpaysWithinTheGrace(uint96 cap, uint96 spent, uint96 lowered, uint64 after_, uint8 action) public {
        cap = uint96(bound(cap, 1, 50e6));
        spent = uint96(bound(spent, 1, cap));
        lowered = uint96(bound(lowered, 0, cap));
        after_ = uint64(bound(after_, 0, WITHDRAWAL_DELAY - 1));
        _fund(alice, 50e6);
        vm.prank(alice);
        escrow.authorizeDelegate(hot, cap, 0);
        bytes memory claim = _delegateClaim(alice, HOT_KEY, spent, spent);
        vm.startPrank(alice);
        if (action % 3 != 1) escrow.revokeDelegate(hot);
        if (action % 3 != 0) escrow.authorizeDelegate(hot, lowered, uint40(block.timestamp + 1));
        vm.stopPrank();
        vm.warp(block.timestamp + after_);
        _settle("b", claim);
        assertEq(escrow.delegationOf(alice, hot).claimed, spent, "claimed in full");
        _assertSolvent();
    }
}
