// Placeholder, replaced by the sweep handler: it exists only so that `npm run package`
// has an entry point to bundle before the real approver lands.
export const handler = async (): Promise<Record<string, never>> => ({});
