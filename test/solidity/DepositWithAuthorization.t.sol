// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IAgentTabEscrow} from "../../contracts/interfaces/IAgentTabEscrow.sol";
import {VoucherHash} from "../../contracts/libraries/VoucherHash.sol";
import {MockUSDC} from "../../contracts/mocks/MockUSDC.sol";
import {EscrowTestBase} from "./base/EscrowTestBase.sol";
import {vm} from "./base/Vm.sol";

contract DepositWithAuthorizationTest is EscrowTestBase {
    bytes32 internal constant NONCE = keccak256("nonce-1");

    function _receiveSig(uint256 key, uint256 value) internal view returns (bytes memory) {
        return _signAuthorization(
            key, VoucherHash.RECEIVE_WITH_AUTHORIZATION_TYPEHASH, address(escrow), value, 0, block.timestamp + 1 hours, NONCE
        );
    }

    function test_depositWithAuthorization_relayedCreditsSigner() public {
        usdc.mint(alice, 4e6);
        bytes memory sig = _receiveSig(ALICE_KEY, 4e6);
        vm.expectEmit(true, true, false, true, address(escrow));
        emit IAgentTabEscrow.Deposited(alice, alice, 4e6, 4e6);
        vm.prank(bob);
        escrow.depositWithAuthorization(alice, 4e6, 0, block.timestamp + 1 hours, NONCE, sig);
        assertEq(_balance(alice), 4e6, "alice credited");
        assertTrue(usdc.authorizationState(alice, NONCE), "nonce used");
        _assertSolvent();
    }

    function test_depositWithAuthorization_revertsOnReplay() public {
        usdc.mint(alice, 8e6);
        bytes memory sig = _receiveSig(ALICE_KEY, 4e6);
        escrow.depositWithAuthorization(alice, 4e6, 0, block.timestamp + 1 hours, NONCE, sig);
        vm.expectRevert(abi.encodeWithSelector(MockUSDC.AuthorizationAlreadyUsed.selector, alice, NONCE));
        escrow.depositWithAuthorization(alice, 4e6, 0, block.timestamp + 1 hours, NONCE, sig);
        assertEq(_balance(alice), 4e6, "credited once");
    }

    function test_depositWithAuthorization_revertsOnOtherSigner() public {
        usdc.mint(alice, 4e6);
        bytes memory sig = _receiveSig(MALLORY_KEY, 4e6);
        vm.expectRevert(abi.encodeWithSelector(MockUSDC.InvalidSignature.selector));
        escrow.depositWithAuthorization(alice, 4e6, 0, block.timestamp + 1 hours, NONCE, sig);
    }

    function test_depositWithAuthorization_rejectsTransferTypeHash() public {
        // A TransferWithAuthorization signature (x402 exact) is not a deposit authorization.
        usdc.mint(alice, 4e6);
        bytes memory sig = _signAuthorization(
            ALICE_KEY, VoucherHash.TRANSFER_WITH_AUTHORIZATION_TYPEHASH, address(escrow), 4e6, 0, block.timestamp + 1 hours, NONCE
        );
        vm.expectRevert(abi.encodeWithSelector(MockUSDC.InvalidSignature.selector));
        escrow.depositWithAuthorization(alice, 4e6, 0, block.timestamp + 1 hours, NONCE, sig);
    }

    function test_depositWithAuthorization_revertsWhenPaused() public {
        vm.prank(pauser);
        escrow.pause();
        vm.expectRevert(abi.encodeWithSignature("EnforcedPause()"));
        escrow.depositWithAuthorization(alice, 1, 0, type(uint256).max, NONCE, "");
    }
}
