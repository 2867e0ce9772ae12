// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title AgentTab reputation
/// @notice Feedback on a provider's service from agents who really paid for it. The AgentTab proxy
/// signs a {Receipt} on every paid response; the agent that paid may give one score (0-100) with a
/// few tags per receipt, directly or through a relayer. Like ERC-8004's reputation registry, each
/// piece of feedback is tied to a proof of payment, here the proxy's receipt.
///
/// Nothing is aggregated on-chain: {FeedbackGiven} carries everything an indexer needs to compute a
/// provider's reputation without reading state.
///
/// Receipts are EIP-712 typed data under the domain `("AgentTab Receipt", "1", chainId, this)`:
/// `Receipt(bytes32 requestId,bytes32 serviceId,address provider,address payer,uint256 amount,uint256 cumulative,uint64 issuedAt)`.
interface IAgentTabReputation {
    // ---------------------------------------------------------------------------------------------
    // Types
    // ---------------------------------------------------------------------------------------------

    /// @notice What the proxy signs on every paid response.
    /// @param requestId The proxy's unique id of the call; feedback is accepted once per id.
    /// @param serviceId The service that was called.
    /// @param provider The provider that served the call and is paid for it.
    /// @param payer The key that paid: the voucher signer (the agent or its delegate), or the payer
    /// of an x402 `exact` payment. Only this key may give feedback on the call.
    /// @param amount What the call was charged, in USDC atomic units (0 for an unpaid call).
    /// @param cumulative The payer's charged total after this call, in USDC atomic units.
    /// @param issuedAt When the proxy signed the receipt (Unix seconds).
    struct Receipt {
        bytes32 requestId;
        bytes32 serviceId;
        address provider;
        address payer;
        uint256 amount;
        uint256 cumulative;
        uint64 issuedAt;
    }

    // ---------------------------------------------------------------------------------------------
    // Events (past tense, carrying everything an indexer needs)
    // ---------------------------------------------------------------------------------------------

    /// @notice `payer`, charged `amount` for call `requestId` to `provider`'s `serviceId`, scored it
    /// `score` out of 100 with `tags`.
    event FeedbackGiven(
        address indexed provider,
        bytes32 indexed serviceId,
        address indexed payer,
        bytes32 requestId,
        uint8 score,
        string[] tags,
        uint256 amount
    );

    /// @notice The admin allowed (or stopped allowing) `signer` to sign receipts.
    event ReceiptSignerUpdated(address indexed signer, bool allowed);

    // ---------------------------------------------------------------------------------------------
    // Errors
    // ---------------------------------------------------------------------------------------------

    error ZeroAddress();
    /// @notice Only the receipt's payer may give feedback on it directly.
    error NotPayer(address caller, address payer);
    error ScoreOutOfRange(uint8 score, uint8 maxScore);
    error TooManyTags(uint256 count, uint256 maxTags);
    error TagTooLong(uint256 index, uint256 length, uint256 maxLength);
    /// @notice The receipt charged nothing: only paid calls carry feedback.
    error UnpaidReceipt(bytes32 requestId);
    /// @notice The receipt is not signed by an allowed receipt signer; `signer` is the key the
    /// signature recovers to (zero when it recovers to none: malformed, or high-s).
    error InvalidReceipt(address signer);
    error FeedbackAlreadyGiven(bytes32 requestId);
    error FeedbackExpired(uint256 deadline);
    /// @notice The relayed feedback is not signed by the receipt's payer (ECDSA or ERC-1271).
    error InvalidFeedbackSignature(bytes32 requestId, address payer);

    // ---------------------------------------------------------------------------------------------
    // Feedback
    // ---------------------------------------------------------------------------------------------

    /// @notice Gives feedback on a paid call. The caller must be `receipt.payer`.
    /// @param receipt The proxy's receipt for the call.
    /// @param receiptSignature The 65-byte ECDSA signature of an allowed receipt signer over the
    /// receipt's EIP-712 digest ({receiptDigest}); high-s signatures are refused.
    /// @param score From 0 to {MAX_SCORE}.
    /// @param tags At most {MAX_TAGS} tags of at most {MAX_TAG_LENGTH} bytes each.
    function giveFeedback(Receipt calldata receipt, bytes calldata receiptSignature, uint8 score, string[] calldata tags)
        external;

    /// @notice Gives feedback on a paid call on behalf of `receipt.payer`, who signed
    /// `Feedback(bytes32 requestId,uint8 score,string[] tags,uint256 deadline)` under this contract's
    /// EIP-712 domain ({feedbackDigest}); anyone may relay it, so an agent without gas can rate.
    /// @param deadline The last timestamp at which the feedback may be submitted.
    /// @param payerSignature The payer's signature: ECDSA, or ERC-1271 for a smart-contract wallet.
    function giveFeedbackBySig(
        Receipt calldata receipt,
        bytes calldata receiptSignature,
        uint8 score,
        string[] calldata tags,
        uint256 deadline,
        bytes calldata payerSignature
    ) external;

    // ---------------------------------------------------------------------------------------------
    // Admin
    // ---------------------------------------------------------------------------------------------

    /// @notice Allows `signer` to sign receipts, or stops allowing it: feedback whose receipt it
    /// signed is then refused, however old the receipt. Admin only.
    function setReceiptSigner(address signer, bool allowed) external;

    // ---------------------------------------------------------------------------------------------
    // Views
    // ---------------------------------------------------------------------------------------------

    /// @notice The highest score.
    function MAX_SCORE() external view returns (uint8);

    /// @notice The most tags one piece of feedback may carry.
    function MAX_TAGS() external view returns (uint256);

    /// @notice The longest tag, in bytes.
    function MAX_TAG_LENGTH() external view returns (uint256);

    /// @notice Whether feedback was given on call `requestId`.
    function feedbackGiven(bytes32 requestId) external view returns (bool);

    /// @notice Whether `signer` may sign receipts.
    function isReceiptSigner(address signer) external view returns (bool);

    /// @notice The EIP-712 digest of `receipt`, which a receipt signer signs.
    function receiptDigest(Receipt calldata receipt) external view returns (bytes32);

    /// @notice The EIP-712 digest of a payer's relayed feedback, which {giveFeedbackBySig} verifies.
    function feedbackDigest(bytes32 requestId, uint8 score, string[] calldata tags, uint256 deadline)
        external
        view
        returns (bytes32);
}
