// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AgentTabReputation} from "../../contracts/AgentTabReputation.sol";
import {IAgentTabReputation} from "../../contracts/interfaces/IAgentTabReputation.sol";
import {ReputationTestBase} from "./base/ReputationTestBase.sol";
import {vm} from "./base/Vm.sol";

/// @notice The constructor, the two-step admin transfer, and the digests, recomputed by hand from
/// the EIP-712 rules rather than through VoucherHash.
contract ReputationViewsTest is ReputationTestBase {
    address internal newAdmin = address(0xAD2);

    function _domainSeparator() internal view returns (bytes32) {
        return keccak256(
            abi.encode(
                keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                keccak256("AgentTab Receipt"),
                keccak256("1"),
                block.chainid,
                address(reputation)
            )
        );
    }

    function test_constructor_setsAdminLimitsAndDomain() public view {
        assertEq(reputation.defaultAdmin(), admin, "admin");
        assertEq(reputation.defaultAdminDelay(), ADMIN_DELAY, "admin delay");
        assertEq(reputation.MAX_SCORE(), 100, "max score");
        assertEq(reputation.MAX_TAGS(), 5, "max tags");
        assertEq(reputation.MAX_TAG_LENGTH(), 32, "max tag length");
        (, string memory name, string memory version, uint256 chainId, address verifyingContract,,) =
            reputation.eip712Domain();
        assertEq(keccak256(bytes(name)), keccak256("AgentTab Receipt"), "domain name");
        assertEq(keccak256(bytes(version)), keccak256("1"), "domain version");
        assertEq(chainId, block.chainid, "domain chain");
        assertEq(verifyingContract, address(reputation), "domain contract");
    }

    function test_constructor_startsWithNoReceiptSigner() public {
        AgentTabReputation fresh = new AgentTabReputation(admin, 0);
        assertFalse(fresh.isReceiptSigner(proxy), "no signer");
        assertFalse(fresh.isReceiptSigner(admin), "not even the admin");
    }

    function test_adminTransfer_takesTwoStepsAndTheDelay() public {
        vm.prank(admin);
        reputation.beginDefaultAdminTransfer(newAdmin);
        (, uint48 schedule) = reputation.pendingDefaultAdmin();
        vm.prank(newAdmin);
        vm.expectRevert(abi.encodeWithSignature("AccessControlEnforcedDefaultAdminDelay(uint48)", schedule));
        reputation.acceptDefaultAdminTransfer();
        vm.warp(block.timestamp + ADMIN_DELAY + 1);
        vm.prank(newAdmin);
        reputation.acceptDefaultAdminTransfer();
        assertEq(reputation.defaultAdmin(), newAdmin, "transferred");
        vm.prank(newAdmin);
        reputation.setReceiptSigner(mallory, true);
        assertTrue(reputation.isReceiptSigner(mallory), "the new admin manages signers");
    }

    function test_receiptDigest_isTheEip712DigestOfTheReceipt() public {
        IAgentTabReputation.Receipt memory r = _receipt(alice, 12_345);
        bytes32 structHash = keccak256(
            abi.encode(
                keccak256(
                    "Receipt(bytes32 requestId,bytes32 serviceId,address provider,address payer,uint256 amount,uint256 cumulative,uint64 issuedAt)"
                ),
                r.requestId,
                r.serviceId,
                r.provider,
                r.payer,
                r.amount,
                r.cumulative,
                r.issuedAt
            )
        );
        bytes32 expected = keccak256(abi.encodePacked("\x19\x01", _domainSeparator(), structHash));
        assertEq(reputation.receiptDigest(r), expected, "receipt digest");
    }

    function test_feedbackDigest_hashesTagsAsAStringArray() public view {
        bytes32 requestId = keccak256("call");
        bytes32 tagsHash = keccak256(abi.encodePacked(keccak256("fast"), keccak256("cheap")));
        bytes32 structHash = keccak256(
            abi.encode(
                keccak256("Feedback(bytes32 requestId,uint8 score,string[] tags,uint256 deadline)"),
                requestId,
                uint8(77),
                tagsHash,
                uint256(2_000_000_000)
            )
        );
        bytes32 expected = keccak256(abi.encodePacked("\x19\x01", _domainSeparator(), structHash));
        assertEq(reputation.feedbackDigest(requestId, 77, _tags("fast", "cheap"), 2_000_000_000), expected, "digest");
        bytes32 noTags = keccak256(
            abi.encode(
                keccak256("Feedback(bytes32 requestId,uint8 score,string[] tags,uint256 deadline)"),
                requestId,
                uint8(77),
                keccak256(""),
                uint256(2_000_000_000)
            )
        );
        assertEq(
            reputation.feedbackDigest(requestId, 77, new string[](0), 2_000_000_000),
            keccak256(abi.encodePacked("\x19\x01", _domainSeparator(), noTags)),
            "digest without tags"
        );
    }
}
