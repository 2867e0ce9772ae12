// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IAgentTabEscrow} from "../../contracts/interfaces/IAgentTabEscrow.sol";
import {EscrowTestBase} from "./base/EscrowTestBase.sol";
import {vm} from "./base/Vm.sol";

contract WithdrawEarningsTest is EscrowTestBase {
    address internal payoutAddress = address(0xCAFE);

    function setUp() public override {
        super.setUp();
        _fund(alice, 10e6);
        _settle("b", _ownClaim(ALICE_KEY, 10e6)); // provider1 earns 9.9 USDC
    }

    function test_withdrawEarnings_paysToChosenAddress() public {
        vm.expectEmit(true, true, false, true, address(escrow));
        emit IAgentTabEscrow.EarningsWithdrawn(provider1, payoutAddress, 9e6, 900_000);
        vm.prank(provider1);
        escrow.withdrawEarnings(payoutAddress, 9e6);
        assertEq(usdc.balanceOf(payoutAddress), 9e6, "paid");
        assertEq(escrow.earningsOf(provider1), 900_000, "remaining");
        _assertSolvent();
    }

    function test_withdrawEarnings_revertsAboveBalance() public {
        vm.prank(provider1);
        vm.expectRevert(
            abi.encodeWithSelector(IAgentTabEscrow.InsufficientEarnings.selector, provider1, 9_900_000, 10e6)
        );
        escrow.withdrawEarnings(payoutAddress, 10e6);
    }

    function test_withdrawEarnings_cannotTakeAnotherProvidersBalance() public {
        vm.prank(provider2);
        vm.expectRevert(abi.encodeWithSelector(IAgentTabEscrow.InsufficientEarnings.selector, provider2, 0, 1));
        escrow.withdrawEarnings(provider2, 1);
    }

    function test_withdrawEarnings_revertsOnZeroAddressOrAmount() public {
        vm.prank(provider1);
        vm.expectRevert(abi.encodeWithSelector(IAgentTabEscrow.ZeroAddress.selector));
        escrow.withdrawEarnings(address(0), 1);
        vm.prank(provider1);
        vm.expectRevert(abi.encodeWithSelector(IAgentTabEscrow.ZeroAmount.selector));
        escrow.withdrawEarnings(payoutAddress, 0);
    }

    function test_withdrawEarnings_worksWhilePaused() public {
        vm.prank(pauser);
        escrow.pause();
        vm.prank(provider1);
        escrow.withdrawEarnings(payoutAddress, 1e6);
        assertEq(usdc.balanceOf(payoutAddress), 1e6, "never blocked by a pause");
    }
}
