// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IAgentTabEscrow} from "../../contracts/interfaces/IAgentTabEscrow.sol";
import {EscrowTestBase} from "./base/EscrowTestBase.sol";
import {vm} from "./base/Vm.sol";

contract RequestWithdrawalTest is EscrowTestBase {
    function setUp() public override {
        super.setUp();
        _fund(alice, 10e6);
    }

    function test_requestWithdrawal_startsTheDelay() public {
        uint256 unlockAt = block.timestamp + WITHDRAWAL_DELAY;
        vm.expectEmit(true, false, false, true, address(escrow));
        emit IAgentTabEscrow.WithdrawalRequested(alice, 4e6, unlockAt);
        vm.prank(alice);
        escrow.requestWithdrawal(4e6);
        IAgentTabEscrow.PendingWithdrawal memory w = escrow.pendingWithdrawalOf(alice);
        assertEq(w.amount, 4e6, "amount");
        assertEq(w.unlockAt, unlockAt, "unlockAt");
        assertEq(_balance(alice), 10e6, "balance stays until finalized");
    }

    function test_requestWithdrawal_replacesAndRestartsTheDelay() public {
        vm.prank(alice);
        escrow.requestWithdrawal(4e6);
        vm.warp(block.timestamp + 1 days);
        vm.prank(alice);
        escrow.requestWithdrawal(6e6);
        IAgentTabEscrow.PendingWithdrawal memory w = escrow.pendingWithdrawalOf(alice);
        assertEq(w.amount, 6e6, "new amount");
        assertEq(w.unlockAt, block.timestamp + WITHDRAWAL_DELAY, "delay restarted");
    }

    function test_requestWithdrawal_revertsAboveBalance() public {
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IAgentTabEscrow.InsufficientBalance.selector, alice, 10e6, 11e6));
        escrow.requestWithdrawal(11e6);
    }

    function test_requestWithdrawal_revertsOnZero() public {
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IAgentTabEscrow.ZeroAmount.selector));
        escrow.requestWithdrawal(0);
    }

    function test_requestWithdrawal_worksWhilePaused() public {
        vm.prank(pauser);
        escrow.pause();
        vm.prank(alice);
        escrow.requestWithdrawal(1e6);
        assertEq(escrow.pendingWithdrawalOf(alice).amount, 1e6, "requested");
    }
}
