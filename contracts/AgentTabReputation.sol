// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControlDefaultAdminRules} from
    "@openzeppelin/contracts/access/extensions/AccessControlDefaultAdminRules.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";

import {IAgentTabReputation} from "./interfaces/IAgentTabReputation.sol";
import {VoucherHash} from "./libraries/VoucherHash.sol";

/// @title AgentTab reputation
/// @notice See {IAgentTabReputation}.
contract AgentTabReputation is IAgentTabReputation, AccessControlDefaultAdminRules, EIP712 {
    using VoucherHash for Receipt;

    /// @inheritdoc IAgentTabReputation
    uint8 public constant MAX_SCORE = 100;
    /// @inheritdoc IAgentTabReputation
    uint256 public constant MAX_TAGS = 5;
    /// @inheritdoc IAgentTabReputation
    uint256 public constant MAX_TAG_LENGTH = 32;

    mapping(address signer => bool) private _receiptSigners;
    mapping(bytes32 requestId => bool) private _feedbackGiven;

    /// @param admin The admin, who manages receipt signers; transfers take two steps and
    /// `adminTransferDelay` seconds.
    constructor(address admin, uint48 adminTransferDelay)
        AccessControlDefaultAdminRules(adminTransferDelay, admin)
        EIP712("AgentTab Receipt", "1")
    {}

    // ---------------------------------------------------------------------------------------------
    // Feedback
    // ---------------------------------------------------------------------------------------------

    /// @inheritdoc IAgentTabReputation
    function giveFeedback(Receipt calldata receipt, bytes calldata receiptSignature, uint8 score, string[] calldata tags)
        external
    {
        if (msg.sender != receipt.payer) revert NotPayer(msg.sender, receipt.payer);
        _giveFeedback(receipt, receiptSignature, score, tags);
    }

    /// @inheritdoc IAgentTabReputation
    function giveFeedbackBySig(
        Receipt calldata receipt,
        bytes calldata receiptSignature,
        uint8 score,
        string[] calldata tags,
        uint256 deadline,
        bytes calldata payerSignature
    ) external {
        if (block.timestamp > deadline) revert FeedbackExpired(deadline);
        bytes32 digest = _hashTypedDataV4(VoucherHash.hashFeedback(receipt.requestId, score, tags, deadline));
        if (!SignatureChecker.isValidSignatureNowCalldata(receipt.payer, digest, payerSignature)) {
            revert InvalidFeedbackSignature(receipt.requestId, receipt.payer);
        }
        _giveFeedback(receipt, receiptSignature, score, tags);
    }

    /// @dev Everything but who is asking: bounds, payment, uniqueness, then the receipt signature.
    function _giveFeedback(Receipt calldata receipt, bytes calldata receiptSignature, uint8 score, string[] calldata tags)
        private
    {
        if (score > MAX_SCORE) revert ScoreOutOfRange(score, MAX_SCORE);
        if (tags.length > MAX_TAGS) revert TooManyTags(tags.length, MAX_TAGS);
        for (uint256 i; i < tags.length; ++i) {
            uint256 length = bytes(tags[i]).length;
            if (length > MAX_TAG_LENGTH) revert TagTooLong(i, length, MAX_TAG_LENGTH);
        }
        bytes32 requestId = receipt.requestId;
        if (receipt.amount == 0) revert UnpaidReceipt(requestId);
        if (_feedbackGiven[requestId]) revert FeedbackAlreadyGiven(requestId);
        // Receipt signers are the proxy's hot keys, which sign every paid response: plain ECDSA keys.
        // tryRecover refuses high-s and malformed signatures by recovering no address.
        (address signer,,) = ECDSA.tryRecoverCalldata(_hashTypedDataV4(receipt.hashReceipt()), receiptSignature);
        if (signer == address(0) || !_receiptSigners[signer]) revert InvalidReceipt(signer);

        _feedbackGiven[requestId] = true;
        emit FeedbackGiven(receipt.provider, receipt.serviceId, receipt.payer, requestId, score, tags, receipt.amount);
    }

    // ---------------------------------------------------------------------------------------------
    // Admin
    // ---------------------------------------------------------------------------------------------

    /// @inheritdoc IAgentTabReputation
    function setReceiptSigner(address signer, bool allowed) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (signer == address(0)) revert ZeroAddress();
        _receiptSigners[signer] = allowed;
        emit ReceiptSignerUpdated(signer, allowed);
    }

    // ---------------------------------------------------------------------------------------------
    // Views
    // ---------------------------------------------------------------------------------------------

    /// @inheritdoc IAgentTabReputation
    function feedbackGiven(bytes32 requestId) external view returns (bool) {
        return _feedbackGiven[requestId];
    }

    /// @inheritdoc IAgentTabReputation
    function isReceiptSigner(address signer) external view returns (bool) {
        return _receiptSigners[signer];
    }

    /// @inheritdoc IAgentTabReputation
    function receiptDigest(Receipt calldata receipt) external view returns (bytes32) {
        return _hashTypedDataV4(receipt.hashReceipt());
    }

    /// @inheritdoc IAgentTabReputation
    function feedbackDigest(bytes32 requestId, uint8 score, string[] calldata tags, uint256 deadline)
        external
        view
        returns (bytes32)
    {
        return _hashTypedDataV4(VoucherHash.hashFeedback(requestId, score, tags, deadline));
    }
}
