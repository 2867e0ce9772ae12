// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IAgentTabEscrow} from "../../contracts/interfaces/IAgentTabEscrow.sol";
import {EscrowTestBase} from "./base/EscrowTestBase.sol";
import {vm} from "./base/Vm.sol";

contract FinalizeWithdrawalTest is EscrowTestBase {
    function setUp() public override {
        super.setUp();
        _fund(alice, 10e6);
        vm.prank(alice);
        escrow.requestWithdrawal(4e6);
    }

    function test_finalizeWithdrawal_paysAfterTheDelay() public {
        vm.warp(block.timestamp + WITHDRAWAL_DELAY);
        vm.expectEmit(true, false, false, true, address(escrow));
        emit IAgentTabEscrow.WithdrawalFinalized(alice, 4e6, 6e6);
        vm.prank(alice);
        assertEq(escrow.finalizeWithdrawal(), 4e6, "returned amount");
        assertEq(usdc.balanceOf(alice), 4e6, "paid to the agent");
        assertEq(_balance(alice), 6e6, "balance");
        assertEq(escrow.pendingWithdrawalOf(alice).unlockAt, 0, "cleared");
        _assertSolvent();
    }

    function test_finalizeWithdrawal_revertsBeforeUnlock() public {
        uint256 unlockAt = block.timestamp + WITHDRAWAL_DELAY;
        vm.warp(unlockAt - 1);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IAgentTabEscrow.WithdrawalLocked.selector, alice, unlockAt));
        escrow.finalizeWithdrawal();
    }

    function test_finalizeWithdrawal_paysOnlyWhatClaimsLeft() public {
        // The settler claims during the delay; the withdrawal gets the remainder, never the providers' share.
        _settle("b", _ownClaim(ALICE_KEY, 8e6));
        vm.warp(block.timestamp + WITHDRAWAL_DELAY);
        vm.prank(alice);
        assertEq(escrow.finalizeWithdrawal(), 2e6, "remainder");
        assertEq(_balance(alice), 0, "emptied");
        _assertSolvent();
    }

    function test_finalizeWithdrawal_worksWhilePaused() public {
        vm.prank(pauser);
        escrow.pause();
        vm.warp(block.timestamp + WITHDRAWAL_DELAY);
        vm.prank(alice);
        assertEq(escrow.finalizeWithdrawal(), 4e6, "never blocked by a pause");
    }

    function test_finalizeWithdrawal_revertsWithoutRequest() public {
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(IAgentTabEscrow.NoPendingWithdrawal.selector, bob));
        escrow.finalizeWithdrawal();
    }

    function testFuzz_finalizeWithdrawal_neverPaysMoreThanBalance(uint128 claimSeed, uint64 waitSeed) public {
        uint256 claimed = bound(claimSeed, 1, 10e6);
        uint256 wait = bound(waitSeed, WITHDRAWAL_DELAY, 400 days);
        _settle("b", _ownClaim(ALICE_KEY, claimed));
        vm.warp(block.timestamp + wait);
        vm.prank(alice);
        uint256 paid = escrow.finalizeWithdrawal();
        uint256 left = 10e6 - claimed;
        assertEq(paid, left < 4e6 ? left : 4e6, "min(requested, balance)");
        _assertSolvent();
    }
}
