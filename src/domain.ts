/** Vocabulary shared by commands, the pipeline, the database and the adapters. */

export const PLATFORMS = ['discord', 'slack', 'test'] as const;
export type Platform = (typeof PLATFORMS)[number];

export const ASSET_KINDS = ['image', 'video'] as const;
export type AssetKind = (typeof ASSET_KINDS)[number];

/** queued → running → saving → succeeded | failed | cancelled */
export const JOB_STATUSES = ['queued', 'running', 'saving', 'succeeded', 'failed', 'cancelled'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];
export const ACTIVE_JOB_STATUSES = ['queued', 'running', 'saving'] as const satisfies readonly JobStatus[];

export const VISIBILITIES = ['public', 'private'] as const;
export type Visibility = (typeof VISIBILITIES)[number];

/** Where an attachment goes in a model's input. */
export const INPUT_BUCKETS = ['references', 'first_frame', 'last_frame', 'video'] as const;
export type InputBucket = (typeof INPUT_BUCKETS)[number];

/** A person on one platform. Discord users are global (workspace ''), Slack users belong to a team. */
export interface UserRef {
  platform: Platform;
  workspaceId: string;
  platformUserId: string;
}

/** What a community does with an output: show it, show it blurred, wait for a moderator, or never post it. */
export const OUTPUT_POLICIES = ['allow', 'spoiler', 'hold', 'block'] as const;
export type OutputPolicy = (typeof OUTPUT_POLICIES)[number];

/** A Discord server or a Slack workspace: where moderation settings, bans and the audit log belong. */
export interface CommunityRef {
  platform: Platform;
  workspaceId: string;
}
