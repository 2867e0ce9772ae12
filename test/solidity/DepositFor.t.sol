// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IAgentTabEscrow} from "../../contracts/interfaces/IAgentTabEscrow.sol";
import {EscrowTestBase} from "./base/EscrowTestBase.sol";
import {vm} from "./base/Vm.sol";

contract DepositForTest is EscrowTestBase {
    function test_depositFor_creditsTheNamedAccount() public {
        usdc.mint(bob, 7e6);
        vm.startPrank(bob);
        usdc.approve(address(escrow), 7e6);
        vm.expectEmit(true, true, false, true, address(escrow));
        emit IAgentTabEscrow.Deposited(alice, bob, 7e6, 7e6);
        escrow.depositFor(alice, 7e6);
        vm.stopPrank();
        assertEq(_balance(alice), 7e6, "alice credited");
        assertEq(_balance(bob), 0, "bob not credited");
        _assertSolvent();
    }

    function test_depositFor_revertsOnZeroAccount() public {
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(IAgentTabEscrow.ZeroAddress.selector));
        escrow.depositFor(address(0), 1);
    }

    function test_depositFor_revertsOnZeroAmount() public {
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(IAgentTabEscrow.ZeroAmount.selector));
        escrow.depositFor(alice, 0);
    }

    function test_depositFor_revertsWhenPaused() public {
        vm.prank(pauser);
        escrow.pause();
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSignature("EnforcedPause()"));
        escrow.depositFor(alice, 1);
    }
}
