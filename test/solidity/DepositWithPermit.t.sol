// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IAgentTabEscrow} from "../../contracts/interfaces/IAgentTabEscrow.sol";
import {VoucherHash} from "../../contracts/libraries/VoucherHash.sol";
import {EscrowTestBase} from "./base/EscrowTestBase.sol";
import {vm} from "./base/Vm.sol";

contract DepositWithPermitTest is EscrowTestBase {
    function _permit(uint256 key, uint256 amount, uint256 deadline) internal view returns (uint8 v, bytes32 r, bytes32 s) {
        address owner = vm.addr(key);
        bytes32 structHash = VoucherHash.hashPermit(owner, address(escrow), amount, usdc.nonces(owner), deadline);
        return vm.sign(key, _usdcDigest(structHash));
    }

    function test_depositWithPermit_relayedByAnyoneCreditsOwner() public {
        usdc.mint(alice, 3e6);
        uint256 deadline = block.timestamp + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = _permit(ALICE_KEY, 3e6, deadline);
        vm.prank(bob); // a relayer pays the gas
        escrow.depositWithPermit(alice, 3e6, deadline, v, r, s);
        assertEq(_balance(alice), 3e6, "alice credited");
        assertEq(_balance(bob), 0, "relayer not credited");
        assertEq(usdc.balanceOf(alice), 0, "alice wallet debited");
        _assertSolvent();
    }

    function test_depositWithPermit_ownerMayFallBackToItsAllowance() public {
        usdc.mint(alice, 3e6);
        uint256 deadline = block.timestamp + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = _permit(ALICE_KEY, 3e6, deadline);
        usdc.permit(alice, address(escrow), 3e6, deadline, v, r, s); // someone submits the permit first
        vm.prank(alice); // the owner's own call may use the allowance the permit set
        escrow.depositWithPermit(alice, 3e6, deadline, v, r, s);
        assertEq(_balance(alice), 3e6, "credited");
    }

    function test_depositWithPermit_revertsForARelayerWhenThePermitFails() public {
        usdc.mint(alice, 3e6);
        uint256 deadline = block.timestamp + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = _permit(ALICE_KEY, 3e6, deadline);
        usdc.permit(alice, address(escrow), 3e6, deadline, v, r, s); // front-run: the permit is used
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(IAgentTabEscrow.PermitFailed.selector, alice));
        escrow.depositWithPermit(alice, 3e6, deadline, v, r, s);
        assertEq(_balance(alice), 0, "nothing credited");
    }

    function test_depositWithPermit_strangerCannotMoveAStandingAllowance() public {
        // Alice keeps a spare allowance for the escrow (for a later `deposit`).
        usdc.mint(alice, 3e6);
        vm.prank(alice);
        usdc.approve(address(escrow), 3e6);
        // Mallory calls with a junk permit, hoping the escrow falls back to that allowance.
        vm.prank(mallory);
        vm.expectRevert(abi.encodeWithSelector(IAgentTabEscrow.PermitFailed.selector, alice));
        escrow.depositWithPermit(alice, 3e6, block.timestamp + 1 hours, 27, bytes32(uint256(1)), bytes32(uint256(2)));
        assertEq(_balance(alice), 0, "nothing credited");
        assertEq(usdc.balanceOf(alice), 3e6, "alice keeps her USDC");
        assertEq(usdc.allowance(alice, address(escrow)), 3e6, "allowance untouched");
    }

    function test_depositWithPermit_revertsOnForgedPermit() public {
        usdc.mint(alice, 3e6);
        uint256 deadline = block.timestamp + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = _permit(MALLORY_KEY, 3e6, deadline); // not alice's key
        vm.prank(mallory);
        vm.expectRevert(abi.encodeWithSelector(IAgentTabEscrow.PermitFailed.selector, alice));
        escrow.depositWithPermit(alice, 3e6, deadline, v, r, s);
        assertEq(_balance(alice), 0, "nothing credited");
        assertEq(usdc.balanceOf(alice), 3e6, "alice keeps her USDC");
    }

    function test_depositWithPermit_revertsWhenPaused() public {
        vm.prank(pauser);
        escrow.pause();
        vm.expectRevert(abi.encodeWithSignature("EnforcedPause()"));
        escrow.depositWithPermit(alice, 1, block.timestamp, 27, bytes32(0), bytes32(0));
    }

    function test_depositWithPermit_revertsOnZeroAmount() public {
        vm.expectRevert(abi.encodeWithSelector(IAgentTabEscrow.ZeroAmount.selector));
        escrow.depositWithPermit(alice, 0, block.timestamp, 27, bytes32(0), bytes32(0));
    }
}
