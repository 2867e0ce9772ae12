// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IAgentTabEscrow} from "../../contracts/interfaces/IAgentTabEscrow.sol";
import {EscrowTestBase} from "./base/EscrowTestBase.sol";
import {vm} from "./base/Vm.sol";

contract RevokeDelegateTest is EscrowTestBase {
    function test_revokeDelegate_stopsClaimsAtOnce() public {
        _fund(alice, 10e6);
        vm.prank(alice);
        escrow.authorizeDelegate(hot, 5e6, 0);
        bytes memory claim = _delegateClaim(alice, HOT_KEY, 1e6, 1e6);
        vm.expectEmit(true, true, false, true, address(escrow));
        emit IAgentTabEscrow.DelegateRevoked(alice, hot);
        vm.prank(alice);
        escrow.revokeDelegate(hot);
        assertFalse(escrow.delegationOf(alice, hot).active, "inactive");
        (uint256 share, uint256 fee) = _split(1e6);
        vm.prank(settler);
        vm.expectRevert(abi.encodeWithSelector(IAgentTabEscrow.DelegateNotActive.selector, alice, hot));
        escrow.settle("b1", claim, _payouts(provider1, share), fee);
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
}
