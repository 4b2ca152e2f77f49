import { continuesMention } from '@pulse/protocol/lite';

/**
 * Text as a comment stores it: each "@Name" that `labels` holds (as the comment box shows a picked
 * mention) as its user's "@id". At each "@" the longest label that starts there decides, and only
 * where it ends as an id would (what follows must not read as more of the id): "@Bob" is not
 * taken out of "@Bobby", nor out of "@Bob Smithers" when "@Bob Smith" is a label too; "@田中さん"
 * is stored as "@tanakaさん".
 */
export function storedMentions(text: string, labels: ReadonlyMap<string, string>): string {
  if (labels.size === 0) return text;
  const longestFirst = [...labels.keys()].sort((a, b) => b.length - a.length);
  let out = '';
  let from = 0;
  for (let at = text.indexOf('@'); at !== -1; at = text.indexOf('@', Math.max(at + 1, from))) {
    const label = longestFirst.find((l) => text.startsWith(l, at));
    if (!label || continuesMention(text.slice(at + label.length, at + label.length + 64))) continue;
    out += `${text.slice(from, at)}@${labels.get(label)!}`;
    from = at + label.length;
  }
  return out + text.slice(from);
}
