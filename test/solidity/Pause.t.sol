// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {EscrowTestBase} from "./base/EscrowTestBase.sol";
import {vm} from "./base/Vm.sol";

contract PauseTest is EscrowTestBase {
    function test_pause_andUnpauseByPauser() public {
        vm.prank(pauser);
        escrow.pause();
        assertTrue(escrow.paused(), "paused");
        vm.prank(pauser);
        escrow.unpause();
        assertFalse(escrow.paused(), "unpaused");
        _fund(alice, 1e6); // deposits work again
        assertEq(_balance(alice), 1e6, "deposit after unpause");
    }

    function test_pause_revertsForOthers() public {
        bytes32 role = escrow.PAUSER_ROLE();
        vm.prank(settler);
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, settler, role));
        escrow.pause();
    }

    function test_unpause_revertsForOthers() public {
        vm.prank(pauser);
        escrow.pause();
        bytes32 role = escrow.PAUSER_ROLE();
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, admin, role));
        escrow.unpause();
    }
}
