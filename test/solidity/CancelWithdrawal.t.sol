// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IAgentTabEscrow} from "../../contracts/interfaces/IAgentTabEscrow.sol";
import {EscrowTestBase} from "./base/EscrowTestBase.sol";
import {vm} from "./base/Vm.sol";

contract CancelWithdrawalTest is EscrowTestBase {
    function test_cancelWithdrawal_clearsThePendingRequest() public {
        _fund(alice, 10e6);
        vm.prank(alice);
        escrow.requestWithdrawal(4e6);
        vm.expectEmit(true, false, false, true, address(escrow));
        emit IAgentTabEscrow.WithdrawalCancelled(alice);
        vm.prank(alice);
        escrow.cancelWithdrawal();
        assertEq(escrow.pendingWithdrawalOf(alice).unlockAt, 0, "cleared");
        vm.warp(block.timestamp + WITHDRAWAL_DELAY);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IAgentTabEscrow.NoPendingWithdrawal.selector, alice));
        escrow.finalizeWithdrawal();
    }

    function test_cancelWithdrawal_revertsWithoutRequest() public {
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IAgentTabEscrow.NoPendingWithdrawal.selector, alice));
        escrow.cancelWithdrawal();
    }
}
