// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {IAgentTabEscrow} from "../../contracts/interfaces/IAgentTabEscrow.sol";
import {EscrowTestBase} from "./base/EscrowTestBase.sol";
import {vm} from "./base/Vm.sol";

contract DepositTest is EscrowTestBase {
    function test_deposit_creditsCallerAndEmits() public {
        usdc.mint(alice, 5e6);
        vm.startPrank(alice);
        usdc.approve(address(escrow), 5e6);
        vm.expectEmit(true, true, false, true, address(escrow));
        emit IAgentTabEscrow.Deposited(alice, alice, 5e6, 5e6);
        escrow.deposit(5e6);
        vm.stopPrank();
        assertEq(_balance(alice), 5e6, "balance");
        assertEq(usdc.balanceOf(alice), 0, "wallet emptied");
        assertEq(escrow.totalAccounted(), 5e6, "accounted");
        _assertSolvent();
    }

    function test_deposit_accumulates() public {
        _fund(alice, 1e6);
        _fund(alice, 2e6);
        assertEq(_balance(alice), 3e6, "balance");
    }

    function test_deposit_revertsOnZero() public {
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IAgentTabEscrow.ZeroAmount.selector));
        escrow.deposit(0);
    }

    function test_deposit_revertsWithoutAllowance() public {
        usdc.mint(alice, 1e6);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IERC20Errors.ERC20InsufficientAllowance.selector, address(escrow), 0, 1e6));
        escrow.deposit(1e6);
        assertEq(_balance(alice), 0, "nothing credited");
    }

    function test_deposit_revertsAboveUint128() public {
        uint256 huge = uint256(type(uint128).max) + 1;
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IAgentTabEscrow.AmountTooLarge.selector, huge));
        escrow.deposit(huge);
    }

    function test_deposit_revertsWhenPaused() public {
        vm.prank(pauser);
        escrow.pause();
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSignature("EnforcedPause()"));
        escrow.deposit(1);
    }

    function testFuzz_deposit_balanceAndAccountingMatch(uint96 a, uint96 b) public {
        uint256 x = bound(a, 1, 1e15);
        uint256 y = bound(b, 1, 1e15);
        _fund(alice, x);
        _fund(bob, y);
        assertEq(_balance(alice), x, "alice");
        assertEq(_balance(bob), y, "bob");
        assertEq(escrow.totalAccounted(), x + y, "accounted");
        _assertSolvent();
    }
}
