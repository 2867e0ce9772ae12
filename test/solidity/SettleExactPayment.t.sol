// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {IAgentTabEscrow} from "../../contracts/interfaces/IAgentTabEscrow.sol";
import {VoucherHash} from "../../contracts/libraries/VoucherHash.sol";
import {MockUSDC} from "../../contracts/mocks/MockUSDC.sol";
import {EscrowTestBase} from "./base/EscrowTestBase.sol";
import {vm} from "./base/Vm.sol";

/// @notice x402 `exact`: a stock client's TransferWithAuthorization to the escrow pays a provider.
contract SettleExactPaymentTest is EscrowTestBase {
    bytes32 internal constant NONCE = keccak256("exact-1");

    function _payment(uint256 value, uint256 fee) internal view returns (IAgentTabEscrow.ExactPayment memory) {
        return IAgentTabEscrow.ExactPayment(alice, value, 0, block.timestamp + 5 minutes, NONCE, provider1, fee);
    }

    function _sig(IAgentTabEscrow.ExactPayment memory p) internal view returns (bytes memory) {
        return _signAuthorization(
            ALICE_KEY,
            VoucherHash.TRANSFER_WITH_AUTHORIZATION_TYPEHASH,
            address(escrow),
            p.value,
            p.validAfter,
            p.validBefore,
            p.nonce
        );
    }

    function test_settleExactPayment_creditsProviderAndFee() public {
        usdc.mint(alice, 1e6);
        IAgentTabEscrow.ExactPayment memory p = _payment(1e6, 10_000);
        bytes memory sig = _sig(p);
        vm.expectEmit(true, true, true, true, address(escrow));
        emit IAgentTabEscrow.ExactPaymentSettled(alice, provider1, NONCE, 1e6, 10_000, 990_000);
        vm.prank(exactRelayer);
        escrow.settleExactPayment(p, sig);
        assertEq(escrow.earningsOf(provider1), 990_000, "provider");
        assertEq(escrow.accruedFees(), 10_000, "fee");
        assertEq(usdc.balanceOf(alice), 0, "payer debited");
        assertEq(_balance(alice), 0, "no deposit involved");
        _assertSolvent();
    }

    function test_settleExactPayment_revertsOnReplay() public {
        usdc.mint(alice, 2e6);
        IAgentTabEscrow.ExactPayment memory p = _payment(1e6, 0);
        bytes memory sig = _sig(p);
        vm.prank(exactRelayer);
        escrow.settleExactPayment(p, sig);
        vm.prank(exactRelayer);
        vm.expectRevert(abi.encodeWithSelector(MockUSDC.AuthorizationAlreadyUsed.selector, alice, NONCE));
        escrow.settleExactPayment(p, sig);
        assertEq(escrow.earningsOf(provider1), 1e6, "credited once");
    }

    function test_settleExactPayment_revertsWhenAmountDiffersFromSigned() public {
        usdc.mint(alice, 5e6);
        IAgentTabEscrow.ExactPayment memory p = _payment(1e6, 0);
        bytes memory sig = _sig(p);
        p.value = 5e6;
        vm.prank(exactRelayer);
        vm.expectRevert(abi.encodeWithSelector(MockUSDC.InvalidSignature.selector));
        escrow.settleExactPayment(p, sig);
    }

    function test_settleExactPayment_frontRunLeavesRecoverableSurplus() public {
        usdc.mint(alice, 1e6);
        IAgentTabEscrow.ExactPayment memory p = _payment(1e6, 0);
        bytes memory sig = _sig(p);
        // Anyone may submit a TransferWithAuthorization: the USDC lands unattributed.
        usdc.transferWithAuthorization(alice, address(escrow), p.value, p.validAfter, p.validBefore, p.nonce, sig);
        vm.prank(exactRelayer);
        vm.expectRevert(abi.encodeWithSelector(MockUSDC.AuthorizationAlreadyUsed.selector, alice, NONCE));
        escrow.settleExactPayment(p, sig);
        vm.prank(admin);
        assertEq(escrow.recoverSurplus(alice), 1e6, "surplus returned");
        _assertSolvent();
    }

    function test_settleExactPayment_revertsWhenFeeAboveRate() public {
        IAgentTabEscrow.ExactPayment memory p = _payment(1e6, 10_001);
        vm.prank(exactRelayer);
        vm.expectRevert(abi.encodeWithSelector(IAgentTabEscrow.FeeAboveRate.selector, 10_001, 10_000));
        escrow.settleExactPayment(p, "");
    }

    function test_settleExactPayment_revertsWhenFeeAboveValue() public {
        IAgentTabEscrow.ExactPayment memory p = _payment(1, 2);
        vm.prank(exactRelayer);
        vm.expectRevert(abi.encodeWithSelector(IAgentTabEscrow.FeeAboveValue.selector, 2, 1));
        escrow.settleExactPayment(p, "");
    }

    function test_settleExactPayment_revertsOnZeroProviderOrValue() public {
        IAgentTabEscrow.ExactPayment memory p = _payment(1e6, 0);
        p.provider = address(0);
        vm.prank(exactRelayer);
        vm.expectRevert(abi.encodeWithSelector(IAgentTabEscrow.ZeroAddress.selector));
        escrow.settleExactPayment(p, "");
        p = _payment(0, 0);
        vm.prank(exactRelayer);
        vm.expectRevert(abi.encodeWithSelector(IAgentTabEscrow.ZeroAmount.selector));
        escrow.settleExactPayment(p, "");
    }

    function test_settleExactPayment_revertsWithoutTheExactPaymentRole() public {
        IAgentTabEscrow.ExactPayment memory p = _payment(1e6, 0);
        bytes32 role = escrow.EXACT_PAYMENT_ROLE();
        vm.prank(mallory);
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, mallory, role));
        escrow.settleExactPayment(p, "");
        // Least privilege: the settlement's key cannot execute exact payments either.
        vm.prank(settler);
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, settler, role));
        escrow.settleExactPayment(p, "");
    }

    function test_settle_revertsForTheExactPaymentRole() public {
        // The API's relayer, whose host faces the internet, cannot submit a settlement batch.
        bytes32 role = escrow.SETTLER_ROLE();
        vm.prank(exactRelayer);
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, exactRelayer, role));
        escrow.settle(keccak256("batch"), "", _reports(provider1));
    }

    function test_settleExactPayment_revertsWhenPaused() public {
        vm.prank(pauser);
        escrow.pause();
        IAgentTabEscrow.ExactPayment memory p = _payment(1e6, 0);
        vm.prank(exactRelayer);
        vm.expectRevert(abi.encodeWithSignature("EnforcedPause()"));
        escrow.settleExactPayment(p, "");
    }
}
