// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AgentTabReputation} from "../../../contracts/AgentTabReputation.sol";
import {IAgentTabReputation} from "../../../contracts/interfaces/IAgentTabReputation.sol";

import {TestBase} from "./TestBase.sol";
import {vm} from "./Vm.sol";

/// @title Shared fixture: a reputation contract whose receipt signer is the proxy's key, and
/// builders for receipts, tags and signatures.
abstract contract ReputationTestBase is TestBase {
    uint48 internal constant ADMIN_DELAY = 2 days;

    uint256 internal constant PROXY_KEY = 0x9807;
    uint256 internal constant ALICE_KEY = 0xA11CE;
    uint256 internal constant BOB_KEY = 0xB0B;
    uint256 internal constant MALLORY_KEY = 0xBAD;

    /// @dev secp256k1's group order: `n - s` turns a signature into its high-s twin.
    uint256 internal constant SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;

    AgentTabReputation internal reputation;

    address internal admin = address(0xAD);
    address internal proxy;
    address internal alice;
    address internal bob;
    address internal mallory;
    address internal provider1 = address(0xF001);
    bytes32 internal constant SERVICE = keccak256("weather-api");

    uint256 private _requestNonce;

    function setUp() public virtual {
        vm.warp(1_700_000_000);
        reputation = new AgentTabReputation(admin, ADMIN_DELAY);
        proxy = vm.addr(PROXY_KEY);
        alice = vm.addr(ALICE_KEY);
        bob = vm.addr(BOB_KEY);
        mallory = vm.addr(MALLORY_KEY);
        vm.prank(admin);
        reputation.setReceiptSigner(proxy, true);
        vm.label(proxy, "proxy");
        vm.label(alice, "alice");
        vm.label(bob, "bob");
        vm.label(address(reputation), "reputation");
    }

    // Receipts ------------------------------------------------------------------------------------

    /// @dev A receipt for a fresh call by `payer` to provider1's service, charged `amount`.
    function _receipt(address payer, uint256 amount) internal returns (IAgentTabReputation.Receipt memory) {
        return IAgentTabReputation.Receipt({
            requestId: keccak256(abi.encode("request", ++_requestNonce)),
            serviceId: SERVICE,
            provider: provider1,
            payer: payer,
            amount: amount,
            cumulative: 10e6 + amount,
            issuedAt: uint64(block.timestamp)
        });
    }

    function _sign(uint256 key, bytes32 digest) internal pure returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, digest);
        return abi.encodePacked(r, s, v);
    }

    function _signReceipt(uint256 key, IAgentTabReputation.Receipt memory receipt)
        internal
        view
        returns (bytes memory)
    {
        return _sign(key, reputation.receiptDigest(receipt));
    }

    /// @dev A valid signature with `s` mirrored into the upper half and `v` flipped: it recovers the
    /// same key, and must still be refused.
    function _signHighS(uint256 key, bytes32 digest) internal pure returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, digest);
        return abi.encodePacked(r, bytes32(SECP256K1_N - uint256(s)), v == 27 ? uint8(28) : uint8(27));
    }

    // Feedback ------------------------------------------------------------------------------------

    function _tags(string memory a) internal pure returns (string[] memory t) {
        t = new string[](1);
        t[0] = a;
    }

    function _tags(string memory a, string memory b) internal pure returns (string[] memory t) {
        t = new string[](2);
        t[0] = a;
        t[1] = b;
    }

    /// @dev `count` tags of `length` bytes each.
    function _tagsOf(uint256 count, uint256 length) internal pure returns (string[] memory t) {
        t = new string[](count);
        for (uint256 i; i < count; ++i) {
            t[i] = string(new bytes(length));
        }
    }

    function _signFeedback(uint256 key, bytes32 requestId, uint8 score, string[] memory tags, uint256 deadline)
        internal
        view
        returns (bytes memory)
    {
        return _sign(key, reputation.feedbackDigest(requestId, score, tags, deadline));
    }

    /// @dev Gives feedback as the receipt's payer with a receipt the proxy signed.
    function _giveFeedback(IAgentTabReputation.Receipt memory receipt, uint8 score, string[] memory tags) internal {
        bytes memory signature = _signReceipt(PROXY_KEY, receipt);
        vm.prank(receipt.payer);
        reputation.giveFeedback(receipt, signature, score, tags);
    }
}
