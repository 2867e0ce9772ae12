// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AgentTabEscrow} from "../../contracts/AgentTabEscrow.sol";
import {IAgentTabEscrow} from "../../contracts/interfaces/IAgentTabEscrow.sol";
import {IUSDC} from "../../contracts/interfaces/IUSDC.sol";
import {EscrowTestBase} from "./base/EscrowTestBase.sol";
import {vm} from "./base/Vm.sol";

/// @notice Constructor checks and the two-step admin transfer.
contract RolesTest is EscrowTestBase {
    address internal newAdmin = address(0xAD2);

    function test_constructor_setsImmutables() public view {
        assertEq(escrow.MAX_FEE_BPS(), MAX_FEE_BPS, "cap");
        assertEq(escrow.WITHDRAWAL_DELAY(), WITHDRAWAL_DELAY, "delay");
        assertEq(escrow.feeBps(), FEE_BPS, "rate");
        assertEq(address(escrow.usdc()), address(usdc), "usdc");
        assertEq(escrow.defaultAdmin(), admin, "admin");
    }

    function test_constructor_revertsOnRateAboveCap() public {
        vm.expectRevert(abi.encodeWithSelector(IAgentTabEscrow.FeeRateAboveCap.selector, 600, 500));
        new AgentTabEscrow(IUSDC(address(usdc)), admin, 0, 500, 600, 1 days);
    }

    function test_constructor_revertsOnCapAbove100Percent() public {
        vm.expectRevert(abi.encodeWithSelector(IAgentTabEscrow.FeeRateAboveCap.selector, 10_001, 10_000));
        new AgentTabEscrow(IUSDC(address(usdc)), admin, 0, 10_001, 0, 1 days);
    }

    function test_constructor_revertsOnZeroDelayOrToken() public {
        vm.expectRevert(abi.encodeWithSelector(IAgentTabEscrow.ZeroAmount.selector));
        new AgentTabEscrow(IUSDC(address(usdc)), admin, 0, 500, 100, 0);
        vm.expectRevert(abi.encodeWithSelector(IAgentTabEscrow.ZeroAddress.selector));
        new AgentTabEscrow(IUSDC(address(0)), admin, 0, 500, 100, 1 days);
    }

    function test_adminTransfer_takesTwoStepsAndTheDelay() public {
        vm.prank(admin);
        escrow.beginDefaultAdminTransfer(newAdmin);
        assertEq(escrow.defaultAdmin(), admin, "not yet");
        (, uint48 schedule) = escrow.pendingDefaultAdmin();
        assertEq(schedule, block.timestamp + ADMIN_DELAY, "accept scheduled after the delay");
        vm.prank(newAdmin);
        vm.expectRevert(abi.encodeWithSignature("AccessControlEnforcedDefaultAdminDelay(uint48)", schedule));
        escrow.acceptDefaultAdminTransfer();
        vm.warp(block.timestamp + ADMIN_DELAY + 1);
        vm.prank(newAdmin);
        escrow.acceptDefaultAdminTransfer();
        assertEq(escrow.defaultAdmin(), newAdmin, "transferred");
    }

    function test_adminTransfer_onlyPendingAdminAccepts() public {
        vm.prank(admin);
        escrow.beginDefaultAdminTransfer(newAdmin);
        vm.warp(block.timestamp + ADMIN_DELAY + 1);
        vm.prank(mallory);
        vm.expectRevert(abi.encodeWithSignature("AccessControlInvalidDefaultAdmin(address)", mallory));
        escrow.acceptDefaultAdminTransfer();
    }
}
