// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AgentTabReputation} from "../../../contracts/AgentTabReputation.sol";
import {IAgentTabReputation} from "../../../contracts/interfaces/IAgentTabReputation.sol";
import {TestBase} from "../base/TestBase.sol";
import {vm} from "../base/Vm.sol";

/// @title Gives feedback, directly and relayed, with receipts good and bad, while the admin allows
/// and revokes a receipt signer; a model predicts each outcome and counts every disagreement.
contract ReputationHandler is TestBase {
    AgentTabReputation public immutable reputation;
    address public immutable admin;

    uint256 internal constant PROXY_KEY = 0x9807;
    uint256 internal constant SECOND_PROXY_KEY = 0x9808;
    uint256 internal constant STRANGER_KEY = 0xBAD;
    uint256[3] internal agentKeys = [uint256(0xA1), 0xA2, 0xA3];
    /// @dev A small pool of call ids, so that the same call comes up again and again.
    uint256 public constant REQUEST_POOL = 8;

    bool public secondSignerAllowed;
    mapping(bytes32 requestId => bool) public ghostGiven;
    uint256 public ghostAccepted;
    /// @dev Calls whose outcome (accepted or refused) differed from the model's prediction.
    uint256 public ghostMismatches;

    constructor(AgentTabReputation reputation_, address admin_) {
        reputation = reputation_;
        admin = admin_;
    }

    function requestId(uint256 i) public pure returns (bytes32) {
        return keccak256(abi.encode("call", i % REQUEST_POOL));
    }

    struct Attempt {
        IAgentTabReputation.Receipt receipt;
        bytes receiptSignature;
        uint8 score;
        string[] tags;
        bool receiptValid;
        bool boundsValid;
    }

    /// @dev A receipt for a pooled call by a random agent, signed by the proxy, a second signer the
    /// admin toggles, or a stranger; a score and tags around the limits.
    function _attempt(uint256 seed, uint256 amount, uint256 score, uint256 tagShape)
        internal
        view
        returns (Attempt memory a)
    {
        address payer = vm.addr(agentKeys[seed % 3]);
        amount = bound(amount, 0, 1e9);
        a.receipt = IAgentTabReputation.Receipt({
            requestId: requestId(seed >> 8),
            serviceId: keccak256("svc"),
            provider: address(0xF1),
            payer: payer,
            amount: amount,
            cumulative: amount,
            issuedAt: uint64(block.timestamp)
        });
        uint256 signerKind = (seed >> 16) % 3;
        uint256 key = signerKind == 0 ? PROXY_KEY : signerKind == 1 ? SECOND_PROXY_KEY : STRANGER_KEY;
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, reputation.receiptDigest(a.receipt));
        a.receiptSignature = abi.encodePacked(r, s, v);
        a.receiptValid = signerKind == 0 || (signerKind == 1 && secondSignerAllowed);
        a.score = uint8(bound(score, 0, 120));
        uint256 count = bound(tagShape % 256, 0, 6);
        uint256 length = bound(tagShape >> 8, 0, 34);
        a.tags = new string[](count);
        for (uint256 i; i < count; ++i) {
            a.tags[i] = string(new bytes(length));
        }
        a.boundsValid = a.score <= 100 && count <= 5 && (count == 0 || length <= 32);
    }

    function _record(Attempt memory a, bool authorized, bool accepted) internal {
        bytes32 id = a.receipt.requestId;
        bool expected = authorized && a.receiptValid && a.boundsValid && a.receipt.amount > 0 && !ghostGiven[id];
        if (accepted != expected) ++ghostMismatches;
        if (accepted) {
            ghostGiven[id] = true;
            ++ghostAccepted;
        }
    }

    function giveFeedback(uint256 seed, uint256 amount, uint256 score, uint256 tagShape, bool asStranger) external {
        Attempt memory a = _attempt(seed, amount, score, tagShape);
        address caller = asStranger ? vm.addr(STRANGER_KEY) : a.receipt.payer;
        vm.prank(caller);
        bool accepted;
        try reputation.giveFeedback(a.receipt, a.receiptSignature, a.score, a.tags) {
            accepted = true;
        } catch {}
        _record(a, !asStranger, accepted);
    }

    function giveFeedbackBySig(uint256 seed, uint256 amount, uint256 score, uint256 tagShape, bool signedByStranger)
        external
    {
        Attempt memory a = _attempt(seed, amount, score, tagShape);
        uint256 deadline = block.timestamp;
        uint256 key = signedByStranger ? STRANGER_KEY : agentKeys[seed % 3];
        (uint8 v, bytes32 r, bytes32 s) =
            vm.sign(key, reputation.feedbackDigest(a.receipt.requestId, a.score, a.tags, deadline));
        bool accepted;
        try reputation.giveFeedbackBySig(
            a.receipt, a.receiptSignature, a.score, a.tags, deadline, abi.encodePacked(r, s, v)
        ) {
            accepted = true;
        } catch {}
        _record(a, !signedByStranger, accepted);
    }

    function toggleSecondSigner() external {
        secondSignerAllowed = !secondSignerAllowed;
        vm.prank(admin);
        reputation.setReceiptSigner(vm.addr(SECOND_PROXY_KEY), secondSignerAllowed);
    }
}
