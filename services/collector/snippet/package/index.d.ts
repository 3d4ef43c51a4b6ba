// Types of Overt's snippet for bundlers (index.js); the wire format is WIRE.md's v1.

/** The settings of the script tag, as options. */
export interface InitOptions {
  /** The site id (`overt site add` prints it): the tag's `data-site`. */
  site: string;
  /** The collector's base URL, e.g. `https://overt.example.com`: events go to `${api}/e`. */
  api: string;
  /** Where to load the snippet from; default: this package's overt.js, via the bundler. */
  src?: string;
  /** `data-consent="required"`: nothing is sent before `consent({ analytics: true })`. */
  consentRequired?: boolean;
  /** Hash-based routing: the fragment is the path (`data-hash`). */
  hashRouting?: boolean;
  /** `'tier1'`: Global Privacy Control also keeps the snippet from tier-1 storage. */
  gpc?: 'tier1';
  /** `false`: no `outbound` events for links to other hosts. */
  outboundLinks?: boolean;
  /** `false`: no `download` events for links to files. */
  downloads?: boolean;
}

/** A custom event's properties: at most 30 keys of 1-64 characters; strings up to 256. */
export type Props = Record<string, string | number | boolean>;

export interface TrackOptions {
  props?: Props;
}

/** What the visitor decided; the consent widget and the CMP bridges make this call. */
export interface ConsentState {
  /** Tier 1: a random id in this site's localStorage (false removes it). */
  analytics: boolean;
  /** Tier 2: the consent token for identification, kept in memory only. */
  token?: string;
}

/** Adds the snippet to the page (once); calls made before it loads are kept and replayed. */
export declare function init(options: InitOptions): void;
/** A custom event (`Signup`, `404`...), with its properties. */
export declare function track(name: string, options?: TrackOptions): void;
/** A pageview now, for a router that does not use the history API. */
export declare function pageview(): void;
/** Record the visitor's consent decision. */
export declare function consent(state: ConsentState): void;
