// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {IAgentTabReputation} from "../../contracts/interfaces/IAgentTabReputation.sol";
import {ReputationTestBase} from "./base/ReputationTestBase.sol";
import {vm} from "./base/Vm.sol";

contract SetReceiptSignerTest is ReputationTestBase {
    address internal newSigner = address(0x9808);

    function test_setReceiptSigner_allowsAndEmits() public {
        vm.expectEmit(true, false, false, true, address(reputation));
        emit IAgentTabReputation.ReceiptSignerUpdated(newSigner, true);
        vm.prank(admin);
        reputation.setReceiptSigner(newSigner, true);
        assertTrue(reputation.isReceiptSigner(newSigner), "allowed");
        assertTrue(reputation.isReceiptSigner(proxy), "others unchanged");
    }

    function test_setReceiptSigner_revokesAndEmits() public {
        vm.expectEmit(true, false, false, true, address(reputation));
        emit IAgentTabReputation.ReceiptSignerUpdated(proxy, false);
        vm.prank(admin);
        reputation.setReceiptSigner(proxy, false);
        assertFalse(reputation.isReceiptSigner(proxy), "revoked");
    }

    function test_setReceiptSigner_reallowedSignerWorksAgain() public {
        IAgentTabReputation.Receipt memory receipt = _receipt(alice, 5);
        vm.startPrank(admin);
        reputation.setReceiptSigner(proxy, false);
        reputation.setReceiptSigner(proxy, true);
        vm.stopPrank();
        _giveFeedback(receipt, 50, _tags("ok"));
        assertTrue(reputation.feedbackGiven(receipt.requestId), "accepted");
    }

    function test_setReceiptSigner_revertsForNonAdmin() public {
        bytes32 role = reputation.DEFAULT_ADMIN_ROLE();
        vm.prank(proxy);
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, proxy, role));
        reputation.setReceiptSigner(mallory, true);
    }

    function test_setReceiptSigner_revertsOnZeroAddress() public {
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(IAgentTabReputation.ZeroAddress.selector));
        reputation.setReceiptSigner(address(0), true);
    }
}
