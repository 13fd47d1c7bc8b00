//! Walking a paged list route as one async sequence.

import type { Page } from "./types.js";

/** Pages through a list route, one request per page, until `total` is reached. */
export async function* paginate<T>(fetchPage: (page: number) => Promise<Page<T>>): AsyncGenerator<T, void, undefined> {
  for (let page = 1, seen = 0; ; page++) {
    const answer = await fetchPage(page);
    for (const item of answer.data) yield item;
    seen += answer.data.length;
    if (answer.data.length === 0 || seen >= answer.total) return;
  }
}

