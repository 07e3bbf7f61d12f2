// Tag validation as ARM's front door applies it to every resource type (before the resource provider
// sees the request): tag names may not contain < > % & \ ? / or control characters, names are at most
// 512 characters and values at most 256 (https://learn.microsoft.com/azure/azure-resource-manager/management/tag-resources#limitations).
import { ArmError } from './errors.js';

const RESERVED = /[<>%&\\?/\u0000-\u001f\u007f]/;

export function assertValidTags(tags: unknown): void {
  if (tags === undefined || tags === null) return;
  if (typeof tags !== 'object' || Array.isArray(tags)) throw new ArmError(400, 'InvalidRequestContent', "The request content was invalid and could not be deserialized: 'tags' must be an object.");
  const entries = Object.entries(tags as Record<string, unknown>);
  const bad = entries.map(([k]) => k).filter((k) => RESERVED.test(k));
  if (bad.length) {
    throw new ArmError(400, 'InvalidTagNameCharacters', `The tag names '${bad.join(',')}' have reserved characters '<,>,%,&,\\,?,/' or control characters.`);
  }
  const long = entries.map(([k]) => k).find((k) => k.length > 512);
  if (long) throw new ArmError(400, 'InvalidTagNameLength', `The tag name '${long.slice(0, 40)}...' exceeds the maximum length of 512 characters.`);
  const longValue = entries.find(([, v]) => typeof v === 'string' && v.length > 256);
  if (longValue) throw new ArmError(400, 'InvalidTagValueLength', `The value of tag '${longValue[0]}' exceeds the maximum length of 256 characters.`);
  if (entries.length > 50) throw new ArmError(400, 'InvalidTagCount', `The number of tags (${entries.length}) exceeds the maximum of 50.`);
}
