// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {IAgentTabEscrow} from "../../contracts/interfaces/IAgentTabEscrow.sol";
import {EscrowTestBase} from "./base/EscrowTestBase.sol";
import {vm} from "./base/Vm.sol";

contract WithdrawFeesTest is EscrowTestBase {
    address internal treasury = address(0x7EA5);

    function setUp() public override {
        super.setUp();
        _fund(alice, 10e6);
        _settle("b", _ownClaim(ALICE_KEY, 10e6)); // fee 0.1 USDC
    }

    function test_withdrawFees_paysAccruedFees() public {
        vm.expectEmit(true, false, false, true, address(escrow));
        emit IAgentTabEscrow.FeesWithdrawn(treasury, 100_000);
        vm.prank(admin);
        escrow.withdrawFees(treasury, 100_000);
        assertEq(usdc.balanceOf(treasury), 100_000, "paid");
        assertEq(escrow.accruedFees(), 0, "drained");
        _assertSolvent();
    }

    function test_withdrawFees_cannotTouchDepositsOrEarnings() public {
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(IAgentTabEscrow.InsufficientFees.selector, 100_000, 100_001));
        escrow.withdrawFees(treasury, 100_001);
    }

    function test_withdrawFees_revertsForNonAdmin() public {
        bytes32 role = escrow.DEFAULT_ADMIN_ROLE();
        vm.prank(settler);
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, settler, role));
        escrow.withdrawFees(settler, 1);
    }

    function test_withdrawFees_revertsOnZeroAddressOrAmount() public {
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(IAgentTabEscrow.ZeroAddress.selector));
        escrow.withdrawFees(address(0), 1);
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(IAgentTabEscrow.ZeroAmount.selector));
        escrow.withdrawFees(treasury, 0);
    }
}
