/** Size limits on every string, array and body the server accepts. */
export const LIMITS = {
  idLength: 128,
  roomIdLength: 256,
  userIdLength: 128,
  nameLength: 100,
  urlLength: 2048,
  commentBodyLength: 10_000,
  mentionsPerComment: 50,
  attachmentsPerCommentHardCap: 20,
  emojiLength: 32,
  selectorLength: 1024,
  pathLength: 2048,
  environmentNameLength: 80,
  /** Largest JSON body accepted by the REST API. */
  restBodyBytes: 256 * 1024,
  /** Page size for list endpoints: default and maximum. */
  pageDefault: 50,
  pageMax: 200,
} as const;
