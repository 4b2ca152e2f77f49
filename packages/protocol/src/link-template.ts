/**
 * The email link template (`emailLinkTemplate`), checked the same way by the server and, as it is
 * typed, by the panel: empty, or an http(s) URL whose placeholders are {roomId} and {threadId}.
 */
export const LINK_TEMPLATE_FORM = 'must be empty or an http:// or https:// URL (with {roomId} and {threadId} where they go)';
export const LINK_TEMPLATE_PLACEHOLDERS = 'only {roomId} and {threadId} are filled in; another {placeholder} would stay in the link as it is';

export const linkTemplateFormOk = (value: string): boolean => value === '' || /^https?:\/\/\S+$/.test(value);
export const linkTemplatePlaceholdersOk = (value: string): boolean => (value.match(/\{[^{}]*\}/g) ?? []).every((x) => x === '{roomId}' || x === '{threadId}');

/** What is wrong with a template being set, or undefined. */
export function linkTemplateProblem(value: string): string | undefined {
  if (!linkTemplateFormOk(value)) return LINK_TEMPLATE_FORM;
  if (!linkTemplatePlaceholdersOk(value)) return LINK_TEMPLATE_PLACEHOLDERS;
  return undefined;
}
