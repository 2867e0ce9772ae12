// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {IAgentTabEscrow} from "../../contracts/interfaces/IAgentTabEscrow.sol";
import {EscrowTestBase} from "./base/EscrowTestBase.sol";
import {vm} from "./base/Vm.sol";

contract RecoverSurplusTest is EscrowTestBase {
    function test_recoverSurplus_takesOnlyUnaccountedUSDC() public {
        _fund(alice, 10e6);
        usdc.mint(address(escrow), 3e6); // sent by mistake, outside any deposit
        vm.expectEmit(true, false, false, true, address(escrow));
        emit IAgentTabEscrow.SurplusRecovered(bob, 3e6);
        vm.prank(admin);
        assertEq(escrow.recoverSurplus(bob), 3e6, "surplus");
        assertEq(usdc.balanceOf(address(escrow)), 10e6, "deposits stay");
        _assertSolvent();
    }

    function test_recoverSurplus_revertsWhenNone() public {
        _fund(alice, 10e6);
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(IAgentTabEscrow.ZeroAmount.selector));
        escrow.recoverSurplus(bob);
    }

    function test_recoverSurplus_revertsForNonAdmin() public {
        bytes32 role = escrow.DEFAULT_ADMIN_ROLE();
        vm.prank(settler);
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, settler, role));
        escrow.recoverSurplus(settler);
    }
}
