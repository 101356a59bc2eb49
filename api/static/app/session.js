// The signed-in caller: the API key lives in sessionStorage only (gone when the tab closes).
import { query, useKey } from "./graphql.js";

const STORAGE_KEY = "lodestar.apiKey";
const RANKS = { VIEWER: 0, PLANNER: 1, APPROVER: 2, ADMIN: 3 };

export const session = { key: null, me: null };

/** Whether the caller's role is at least `role` (the API's order: viewer < planner < approver < admin). */
export function may(role) {
  return session.me !== null && RANKS[session.me.role] >= RANKS[role];
}

const ME_KEY = "lodestar.me";

export async function signIn(key) {
  const { me } = await query("Me", {}, key);
  if (!me) throw new Error("the API does not know this key");
  sessionStorage.setItem(STORAGE_KEY, key);
  sessionStorage.setItem(ME_KEY, JSON.stringify(me));
  session.key = key;
  session.me = me;
  useKey(key);
  return me;
}

/**
 * The caller of this tab's session, at once from sessionStorage (so the first view need not wait for
 * `me`); `verified` settles once the API has confirmed the key (signing out if it no longer works).
 */
export function resume() {
  const key = sessionStorage.getItem(STORAGE_KEY);
  const remembered = sessionStorage.getItem(ME_KEY);
  if (!key) return { me: null, verified: Promise.resolve(null) };
  session.key = key;
  session.me = remembered ? JSON.parse(remembered) : null;
  useKey(key);
  const verified = signIn(key).catch(() => {
    signOut();
    return null;
  });
  return { me: session.me, verified };
}

export function signOut() {
  sessionStorage.removeItem(STORAGE_KEY);
  sessionStorage.removeItem(ME_KEY);
  session.key = null;
  session.me = null;
  useKey(null);
}
